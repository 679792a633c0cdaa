package rules_test

import (
	"errors"
	"math"
	"testing"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rules"
)

// Overrides by host alone reach every port of the host; host:port wins over host, and a
// Tag override gives the endpoint the tag calls route by.
func TestCompileOverridesByHostAndTag(t *testing.T) {
	eps := []rules.Endpoint{
		{ID: "a", Endpoint: pick.Endpoint{Key: "10.0.0.1:80", Weight: 100}},
		{ID: "b", Endpoint: pick.Endpoint{Key: "10.0.0.1:81", Weight: 100}},
		{ID: "c", Endpoint: pick.Endpoint{Key: "10.0.0.2:80", Weight: 100}},
		{ID: "d", Endpoint: pick.Endpoint{Key: "[::1]:80", Weight: 100}},
	}
	s := rules.Service{Instances: []rules.Instance{
		{Address: "10.0.0.1", Out: true},
		{Address: "10.0.0.1:81", Weight: 300},
		{Address: "[::1]", Tag: "gray"},
	}}
	if err := (&rules.Rules{Services: map[string]rules.Service{"x": s}}).Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := rules.Compile(pick.AlgRoundRobin, eps, s, pick.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := shares(p, "", nil, 4000)
	if got[0] != 0 {
		t.Errorf("10.0.0.1:80 took %.1f%% of the calls: the host override puts it out", 100*got[0])
	}
	if math.Abs(got[1]-0.75) > 0.01 || math.Abs(got[2]-0.25) > 0.01 || got[3] != 0 {
		t.Errorf("untagged shares %v: want 0.75 and 0.25, none on the tagged [::1]:80", got)
	}
	if g := shares(p, "gray", nil, 100); g[3] != 1 {
		t.Errorf("gray calls %v: want all on [::1]:80", g)
	}
}

func TestValidateAddressForms(t *testing.T) {
	for addr, ok := range map[string]bool{
		"h": true, "10.0.0.1": true, "::1": true, "[::1]": true, "h:1": true, "[::1]:8080": true,
		"h:0": false, "h:x": false, "a/b": false, "[h]": false, ":80": false,
	} {
		r := &rules.Rules{Services: map[string]rules.Service{"x": {Instances: []rules.Instance{{Address: addr, Out: true}}}}}
		if err := r.Validate(); (err == nil) != ok {
			t.Errorf("address %q: error %v, want valid %v", addr, err, ok)
		} else if err != nil && !errors.Is(err, rules.ErrInvalid) {
			t.Errorf("address %q: error %v does not wrap ErrInvalid", addr, err)
		}
	}
}
