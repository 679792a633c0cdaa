package rules

import (
	"errors"
	"strings"
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

func TestValidateHTTPRoutes(t *testing.T) {
	for key, want := range map[string]string{
		"GET /orders/{id}":   "",
		"GET /files/{p...}":  "",
		"GET /exact/{$}":     "",
		"POST /":             "",
		"/shop.Orders/Place": "",
		"*":                  "",
		"orders":             `HTTP route "orders": want "METHOD /path"`,
		"get /orders":        `HTTP route "get /orders": method "get": want upper-case letters`,
		"GET orders":         `HTTP route "GET orders": path "orders": want it to start with /`,
		"GET /orders/x{id}":  `segment "x{id}": a wildcard takes a whole segment`,
		"GET /orders/{}":     `segment "{}": a wildcard takes a whole segment`,
		"GET /{p...}/lines":  `segment "{p...}": only the last segment can be {p...}`,
		"GET /{$}/lines":     `segment "{$}": only the last segment`,
	} {
		r := &Rules{Services: map[string]Service{"orders": {Methods: map[string]Policy{key: {}}}}}
		err := r.Validate()
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", key, err)
		case want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: got %v, want ErrInvalid with %q", key, err, want)
		}
	}
}

// The policy lookup runs on every HTTP request: a miss, a route match and "*" allocate
// nothing.
func TestHTTPPolicyForAllocatesNothingOnAMiss(t *testing.T) {
	r := &Rules{Services: map[string]Service{"orders": {Methods: map[string]Policy{
		"GET /orders/{id}": {Timeout: time.Second}, "*": {Timeout: 2 * time.Second},
	}}}}
	// Paths past 32 bytes: a shorter concatenation would sit in a stack buffer anyway.
	for _, path := range []string{"/orders/0123456789abcdef0123456789abcdef", "/other/0123456789abcdef0123456789abcdef"} {
		if n := testing.AllocsPerRun(100, func() { r.HTTPPolicyFor("orders", "GET", path) }); n != 0 {
			t.Errorf("HTTPPolicyFor(GET %s) allocated %v times, want 0", path, n)
		}
	}
}
