package file

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func urlBackend() registrytest.URLBackend {
	return registrytest.URLBackend{
		Scheme: "file",
		Parse: func(u *url.URL) ([]string, error) {
			_, _, err := ParseURL(u)
			return nil, err
		},
		Sentinel: ErrInvalidConfig,
		Duration: "ttl",
	}
}

func TestParseURLJudgesParametersAsEveryBackendDoes(t *testing.T) {
	registrytest.RunURLCases(t, urlBackend())
}

func TestParseURLRefusesEveryHostButLocalhost(t *testing.T) {
	for _, host := range []string{"db1", "localhost:99999", ":1", "h:1"} {
		u := &url.URL{Scheme: "file", Host: host, Path: "/run/tianshu"}
		if _, _, err := ParseURL(u); !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseURL(%s) = %v, want registry.ErrInvalidURL and ErrInvalidConfig", u, err)
		}
	}
}

// FuzzParseURL: the parser never panics; what it refuses wraps the sentinels; what it accepts
// names a local absolute directory (or none), has positive durations, and reads the same once
// printed and parsed again.
func FuzzParseURL(f *testing.F) {
	for _, s := range registrytest.URLSeeds(urlBackend()) {
		f.Add(s)
	}
	f.Add("file:///run/tianshu?ttl=2s&heartbeat=500ms&poll=500ms")
	f.Add("file://localhost/run/tianshu")
	f.Add("file://")
	f.Add("file:relative/dir")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		dir, o, err := parseApplied(u)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("%q: error %v wraps neither registry.ErrInvalidURL nor ErrInvalidConfig", raw, err)
			}
			return
		}
		if dir != "" && !strings.HasPrefix(dir, "/") {
			t.Fatalf("%q: directory %q is neither absolute nor the default", raw, dir)
		}
		if o.heartbeat < 0 || o.ttl < 0 || o.poll < 0 {
			t.Fatalf("%q: durations %+v", raw, o)
		}
		u2, err := url.Parse(u.String())
		if err != nil {
			t.Fatalf("%q printed as %q does not parse: %v", raw, u, err)
		}
		dir2, o2, err := parseApplied(u2)
		if err != nil || dir != dir2 || !reflect.DeepEqual(o, o2) {
			t.Fatalf("%q: %q %+v; printed as %q: %q %+v, %v", raw, dir, o, u, dir2, o2, err)
		}
	})
}

func parseApplied(u *url.URL) (string, options, error) {
	dir, opts, err := ParseURL(u)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return dir, o, err
}
