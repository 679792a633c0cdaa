package nacos

import (
	"errors"
	"net/url"
	"reflect"
	"slices"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func urlBackend() registrytest.URLBackend {
	return registrytest.URLBackend{
		Scheme: "nacos",
		Parse: func(u *url.URL) ([]string, error) {
			servers, _, err := ParseURL(u)
			return servers, err
		},
		Sentinel:    ErrInvalidConfig,
		DefaultPort: DefaultPort,
		Duration:    "timeout",
	}
}

func TestParseURLJudgesURLsAsEveryBackendDoes(t *testing.T) {
	registrytest.RunURLCases(t, urlBackend())
}

// FuzzParseURL: the parser never panics; what it refuses wraps the sentinels; what it accepts
// has valid servers (ports up to 64535: gRPC is on port+1000) and a positive timeout, and
// reads the same once printed and parsed again.
func FuzzParseURL(f *testing.F) {
	for _, s := range registrytest.URLSeeds(urlBackend()) {
		f.Add(s)
	}
	f.Add("nacos://127.0.0.1:8848,10.0.0.2:8848/dev?group=G&cluster=C&clusters=C,D&username=u&password=p&cache_dir=/var/cache/app")
	f.Add("nacos://u:p@[::1]/ns?timeout=2s&app=shop&naming=dubbo&dubbo_version=1.0&dubbo_group=g")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		servers, o, err := parseApplied(u)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: error %v wraps neither registry.ErrInvalidURL nor ErrInvalidConfig", raw, err)
			}
			return
		}
		registrytest.CheckHosts(t, servers, 64535)
		if o.timeout < 0 {
			t.Fatalf("%q: timeout %v", raw, o.timeout)
		}
		u2, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("%q printed as %q does not parse: %v", raw, u, err)
		}
		servers2, o2, err := parseApplied(u2)
		if err != nil || !slices.Equal(servers, servers2) || !reflect.DeepEqual(o, o2) {
			t.Fatalf("%q: %q %+v; printed as %q: %q %+v, %v", raw, servers, o, u, servers2, o2, err)
		}
	})
}

func parseApplied(u *url.URL) ([]string, options, error) {
	servers, opts, err := ParseURL(u)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return servers, o, err
}
