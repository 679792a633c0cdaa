package rules

import (
	"testing"
	"time"
)

func TestHTTPPolicyFor(t *testing.T) {
	pol := func(d time.Duration) Policy { return Policy{Timeout: d} }
	r := &Rules{
		Services: map[string]Service{"orders": {Methods: map[string]Policy{
			"GET /orders/42":          pol(1),
			"GET /orders/{id}":        pol(2),
			"GET /orders/{id}/lines":  pol(3),
			"GET /{kind}/{id}/lines":  pol(4),
			"DELETE /orders/{id}":     pol(5),
			"GET /files/{path...}":    pol(6),
			"GET /static/":            pol(7),
			"GET /exact/{$}":          pol(8),
			"/shop.Orders/PlaceOrder": pol(9),
			"*":                       pol(10),
		}}},
		Defaults: Service{Methods: map[string]Policy{"POST /pay": pol(11), "*": pol(12)}},
	}
	for _, c := range []struct {
		service, method, path string
		want                  time.Duration
	}{
		{"orders", "GET", "/orders/42", 1},
		{"orders", "", "/orders/42", 1},
		{"orders", "GET", "/orders/7", 2},
		{"orders", "GET", "/orders/7/lines", 3},
		{"orders", "GET", "/carts/7/lines", 4},
		{"orders", "DELETE", "/orders/7", 5},
		{"orders", "PUT", "/orders/7", 10},
		{"orders", "GET", "/orders/", 10},
		{"orders", "GET", "/orders/7/x", 10},
		{"orders", "GET", "/files/a/b/c", 6},
		{"orders", "GET", "/static/css/x.css", 7},
		{"orders", "GET", "/static/", 7},
		{"orders", "GET", "/exact/", 8},
		{"orders", "GET", "/exact/more", 10},
		{"orders", "POST", "/shop.Orders/PlaceOrder", 10},
		{"payments", "POST", "/pay", 11},
		{"payments", "GET", "/pay", 12},
	} {
		key, p, ok := r.HTTPPolicyFor(c.service, c.method, c.path)
		if !ok || p.Timeout != c.want {
			t.Errorf("%s %s %s: got %v (found %v), want %v", c.service, c.method, c.path, p.Timeout, ok, c.want)
		}
		if ok && r.Services["orders"].Methods[key] != p && r.Defaults.Methods[key] != p {
			t.Errorf("%s %s %s: key %q is not the entry found", c.service, c.method, c.path, key)
		}
	}
	if _, _, ok := (&Rules{}).HTTPPolicyFor("orders", "GET", "/"); ok {
		t.Error("no rules: found a policy")
	}
	if _, _, ok := (*Rules)(nil).HTTPPolicyFor("orders", "GET", "/"); ok {
		t.Error("nil rules: found a policy")
	}
}
