package zookeeper

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
		Scheme: "zookeeper",
		Parse: func(u *url.URL) ([]string, error) {
			servers, _, err := ParseURL(u)
			return servers, err
		},
		Sentinel:    ErrInvalidConfig,
		DefaultPort: DefaultPort,
		Duration:    "session_timeout",
	}
}

func TestParseURLJudgesURLsAsEveryBackendDoes(t *testing.T) {
	registrytest.RunURLCases(t, urlBackend())
}

// FuzzParseURL: the parser never panics; what it refuses wraps the sentinels; what it accepts
// has valid servers and positive durations, and reads the same once printed and parsed again.
func FuzzParseURL(f *testing.F) {
	for _, s := range registrytest.URLSeeds(urlBackend()) {
		f.Add(s)
	}
	f.Add("zookeeper://10.0.0.1:2181,10.0.0.2:2181/tianshu?session_timeout=10s&layout=dubbo&user=ops&password=secret")
	f.Add("zookeeper://ops:secret@zk/dubbo?reconnect_max=1m&application=shop")
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
		registrytest.CheckHosts(t, servers, 65535)
		if o.sessionTimeout < 0 || o.reconnect.Base < 0 || o.reconnect.Max < o.reconnect.Base {
			t.Fatalf("%q: session timeout %v, reconnect %v", raw, o.sessionTimeout, o.reconnect)
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
