package eureka_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func urlBackend() registrytest.URLBackend {
	return registrytest.URLBackend{
		Scheme: "eureka",
		// The host list is what the server URLs hold between the scheme and the path.
		Parse: func(u *url.URL) ([]string, error) {
			servers, _, err := eureka.ParseURL(u)
			hosts := make([]string, len(servers))
			for i, s := range servers {
				su, perr := url.Parse(s)
				if perr != nil {
					return nil, perr
				}
				hosts[i] = su.Host
			}
			return hosts, err
		},
		Sentinel:    eureka.ErrInvalidConfig,
		DefaultPort: eureka.DefaultPort,
		Duration:    "fetch_interval",
	}
}

func TestParseURLJudgesURLsAsEveryBackendDoes(t *testing.T) {
	registrytest.RunURLCases(t, urlBackend())
}

func TestParseURLBuildsServerURLsAndOptions(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"eureka://h1,h2:8762", []string{"http://h1:8761/eureka", "http://h2:8762/eureka"}},
		{"eureka://h:1/custom/root/?tls=true", []string{"https://h:1/custom/root"}},
		{"eureka://u:p@h/eureka?renewal_interval=5s&lease_duration=15s&fetch_interval=1s&request_timeout=1s&status=STARTING&health_path=/hc", []string{"http://h:8761/eureka"}},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		servers, opts, err := eureka.ParseURL(u)
		if err != nil || !slices.Equal(servers, tc.want) {
			t.Errorf("ParseURL(%s) = %q, %v; want %q", tc.url, servers, err, tc.want)
		}
		r, err := eureka.New(t.Context(), []string{"http://127.0.0.1:1/eureka"}, append(opts, eureka.WithRequestTimeout(100*time.Millisecond))...)
		if err != nil {
			t.Errorf("New with the options of %s: %v", tc.url, err)
			continue
		}
		_ = r.Close()
	}
}

func TestBadOptionsAndURLsAreRefusedWithErrInvalidConfig(t *testing.T) {
	bad := []string{
		"eureka://h/eureka?status=GONE",
		"eureka://h/eureka?health_path=hc",
		"eureka://h/eureka?renewal_interval=0s",
		"eureka://h/eureka?renewal_interval=30s&lease_duration=30s",
		"eureka://h/eureka?tls=maybe",
		"eureka://h/eureka?password=p",
	}
	for _, s := range bad {
		_, err := registry.Open(t.Context(), s)
		if !errors.Is(err, eureka.ErrInvalidConfig) {
			t.Errorf("Open(%s) = %v; want ErrInvalidConfig", s, err)
		}
	}
	for _, servers := range [][]string{nil, {"ftp://h/eureka"}, {"http:///eureka"}, {"http://u:p@h/eureka"}, {"http://h/eureka?x=1"}} {
		if _, err := eureka.New(t.Context(), servers); !errors.Is(err, eureka.ErrInvalidConfig) {
			t.Errorf("New(%q) = %v; want ErrInvalidConfig", servers, err)
		}
	}
	if _, err := eureka.New(t.Context(), []string{"http://h/eureka"}, eureka.WithInitialStatus("GONE")); !errors.Is(err, eureka.ErrInvalidConfig) {
		t.Errorf("WithInitialStatus(GONE): %v; want ErrInvalidConfig", err)
	}
}

// FuzzParseURL: the parser never panics; what it refuses wraps the sentinels; what it
// accepts gives http(s) server URLs that New takes.
func FuzzParseURL(f *testing.F) {
	for _, s := range registrytest.URLSeeds(urlBackend()) {
		f.Add(s)
	}
	f.Add("eureka://u:p@10.0.0.1:8761,[::1]:8762/eureka?tls=true&status=UP&fetch_interval=3s")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "eureka" {
			return
		}
		servers, _, err := eureka.ParseURL(u)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, eureka.ErrInvalidConfig) {
				t.Fatalf("ParseURL(%q) = %v; want ErrInvalidURL and ErrInvalidConfig", raw, err)
			}
			return
		}
		for _, s := range servers {
			su, err := url.Parse(s)
			if err != nil || su.Host == "" || su.Scheme != "http" && su.Scheme != "https" {
				t.Fatalf("ParseURL(%q) gave server %q", raw, s)
			}
		}
	})
}
