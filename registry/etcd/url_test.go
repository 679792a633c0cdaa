package etcd

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
		Scheme: "etcd",
		Parse: func(u *url.URL) ([]string, error) {
			endpoints, _, err := ParseURL(u)
			return endpoints, err
		},
		Sentinel:    ErrInvalidConfig,
		DefaultPort: DefaultPort,
		Duration:    "ttl",
	}
}

func TestParseURLJudgesURLsAsEveryBackendDoes(t *testing.T) {
	registrytest.RunURLCases(t, urlBackend())
}

// FuzzParseURL: the parser never panics; what it refuses wraps the sentinels; what it accepts
// has valid endpoints and positive durations, and reads the same once printed and parsed
// again.
func FuzzParseURL(f *testing.F) {
	for _, s := range registrytest.URLSeeds(urlBackend()) {
		f.Add(s)
	}
	f.Add("etcd://10.0.0.1:2379,10.0.0.2:2379/tianshu/services?username=svc&password=secret&ttl=10s")
	f.Add("etcd://u:p@[::1]:2379/p?dial_timeout=2s&lazy=true&tls=true&ca_file=/ca.pem&server_name=etcd")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		endpoints, o, err := parseApplied(u)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: error %v wraps neither registry.ErrInvalidURL nor ErrInvalidConfig", raw, err)
			}
			return
		}
		registrytest.CheckHosts(t, endpoints, 65535)
		if o.ttl < 0 || o.dialTimeout < 0 {
			t.Fatalf("%q: ttl %v, dial timeout %v", raw, o.ttl, o.dialTimeout)
		}
		u2, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("%q printed as %q does not parse: %v", raw, u, err)
		}
		endpoints2, o2, err := parseApplied(u2)
		if err != nil || !slices.Equal(endpoints, endpoints2) || !reflect.DeepEqual(o, o2) {
			t.Fatalf("%q: %q %+v; printed as %q: %q %+v, %v", raw, endpoints, o, u, endpoints2, o2, err)
		}
	})
}

func parseApplied(u *url.URL) ([]string, options, error) {
	endpoints, opts, err := ParseURL(u)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return endpoints, o, err
}
