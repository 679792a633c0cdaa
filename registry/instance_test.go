package registry_test

import (
	"testing"

	"github.com/tianshu-go/tianshu/registry"
)

func TestServesOnly(t *testing.T) {
	in := func(schemes ...string) *registry.Instance {
		r := &registry.Instance{}
		for _, s := range schemes {
			r.Endpoints = append(r.Endpoints, registry.Endpoint{Scheme: s, Host: "h", Port: 1})
		}
		return r
	}
	for _, tc := range []struct {
		in   *registry.Instance
		want bool
	}{
		{in("http"), true},
		{in("http", "https"), true},
		{in("http", "grpc"), false},
		{in("grpcs"), false},
		{in(), false},
	} {
		if got := tc.in.ServesOnly("http", "https"); got != tc.want {
			t.Errorf("ServesOnly(http, https) on %v = %v, want %v", tc.in.Endpoints, got, tc.want)
		}
	}
}
