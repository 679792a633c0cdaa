package rules_test

import (
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/rules"
)

// An HTTP client finds a request's policy by its method and path.
func ExampleRules_HTTPPolicyFor() {
	r := &rules.Rules{Services: map[string]rules.Service{"orders": {Methods: map[string]rules.Policy{
		"GET /orders/{id}": {Timeout: 300 * time.Millisecond, Retries: &rules.Retries{Attempts: 3}},
		"*":                {Timeout: 2 * time.Second},
	}}}}
	for _, req := range [][2]string{{"GET", "/orders/42"}, {"POST", "/orders"}} {
		key, p, _ := r.HTTPPolicyFor("orders", req[0], req[1])
		fmt.Printf("%s %s: %q timeout %v retries %v\n", req[0], req[1], key, p.Timeout, p.Retries != nil)
	}
	// Output:
	// GET /orders/42: "GET /orders/{id}" timeout 300ms retries true
	// POST /orders: "*" timeout 2s retries false
}
