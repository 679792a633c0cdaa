package rules_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/rules"
)

func TestValidateNamesEachFaultByItsPlace(t *testing.T) {
	route := func(m rules.Match, to ...rules.Destination) rules.Route { return rules.Route{Match: m, To: to} }
	v2 := rules.Destination{Version: "v2", Weight: 1}
	svc := func(s rules.Service) *rules.Rules {
		return &rules.Rules{Services: map[string]rules.Service{"orders": s}}
	}
	for _, tc := range []struct {
		name string
		r    *rules.Rules
		want string // "" for valid
	}{
		{"an empty document", &rules.Rules{}, ""},
		{"a catch-all last route", svc(rules.Service{Routes: []rules.Route{
			route(rules.Match{Header: "x-canary"}, v2), route(rules.Match{}, rules.Destination{Version: "v1", Weight: 9}, v2)}}), ""},
		{"a catch-all before another route", svc(rules.Service{Routes: []rules.Route{
			route(rules.Match{}, v2), route(rules.Match{Tag: "t"}, v2)}}),
			"services.orders.routes[0].match: accepts every call, so routes[1] and after are never reached"},
		{"tag and header", svc(rules.Service{Routes: []rules.Route{route(rules.Match{Tag: "t", Header: "h"}, v2)}}),
			"services.orders.routes[0].match: both tag and header"},
		{"a value without a header", svc(rules.Service{Routes: []rules.Route{route(rules.Match{Value: "x"}, v2)}}),
			"services.orders.routes[0].match: value without a header"},
		{"a route to nowhere", svc(rules.Service{Routes: []rules.Route{route(rules.Match{Tag: "t"})}}),
			"services.orders.routes[0]: no destination"},
		{"a destination of every instance", svc(rules.Service{Routes: []rules.Route{route(rules.Match{Tag: "t"}, rules.Destination{Weight: 1})}}),
			"services.orders.routes[0].to[0]: no version, zone or tag"},
		{"weights adding up to 0", svc(rules.Service{Routes: []rules.Route{route(rules.Match{Tag: "t"}, rules.Destination{Version: "v2"})}}),
			"services.orders.routes[0]: the destinations' weights add up to 0"},
		{"an instance by id and address", svc(rules.Service{Instances: []rules.Instance{{ID: "a", Address: "h:1"}}}),
			"services.orders.instances[0]: both id"},
		{"a bad address", svc(rules.Service{Instances: []rules.Instance{{Address: "h:0"}}}),
			`services.orders.instances[0]: address "h:0": want host:port`},
		{"an instance twice", svc(rules.Service{Instances: []rules.Instance{{ID: "a", Out: true}, {ID: "a", Weight: 2}}}),
			"services.orders.instances[1]: id a is already overridden by instances[0]"},
		{"a negative timeout", &rules.Rules{Defaults: rules.Service{Methods: map[string]rules.Policy{"*": {Timeout: -time.Second}}}},
			`defaults.methods["*"]: timeout -1s`},
		{"no attempt", svc(rules.Service{Methods: map[string]rules.Policy{"/a.B/C": {Retries: &rules.Retries{}}}}),
			`services.orders.methods["/a.B/C"].retries: attempts 0`},
		{"a limit of no rate", svc(rules.Service{Limits: map[string]rules.Limit{"*": {}}}),
			`services.orders.limits["*"]: rate 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				return
			}
			if !errors.Is(err, rules.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
}

func TestPolicyForFallsBackFromMethodToStarToDefaults(t *testing.T) {
	r := &rules.Rules{
		Defaults: rules.Service{Methods: map[string]rules.Policy{"*": {Timeout: 5 * time.Second}, "/a.B/D": {Timeout: 3 * time.Second}}},
		Services: map[string]rules.Service{"a": {Methods: map[string]rules.Policy{"/a.B/C": {Timeout: time.Second}}}},
	}
	for method, want := range map[string]time.Duration{"/a.B/C": time.Second, "/a.B/D": 3 * time.Second, "/a.B/E": 5 * time.Second} {
		if p, ok := r.PolicyFor("a", method); !ok || p.Timeout != want {
			t.Errorf("PolicyFor(a, %s) = %v, %v; want %v", method, p.Timeout, ok, want)
		}
	}
	if _, ok := (&rules.Rules{}).PolicyFor("a", "/a.B/C"); ok {
		t.Error("a policy found in empty rules")
	}
}
