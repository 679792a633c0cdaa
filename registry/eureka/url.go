package eureka

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("eureka", openURL) }

func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	servers, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, servers, opts...)
}

// DefaultPort is the port of a server given without one in a URL: Spring Cloud's Eureka
// server's.
const DefaultPort = 8761

// DefaultPath is the REST root of a URL given without a path: Spring Cloud's.
const DefaultPath = "/eureka"

// urlParams are the query parameters ParseURL reads.
var urlParams = []string{"fetch_interval", "health_path", "lease_duration", "password", "renewal_interval", "request_timeout", "status", "tls", "username"}

// ParseURL reads a eureka:// URL into server URLs and options:
//
//	eureka://10.0.0.1:8761,10.0.0.2:8761/eureka?renewal_interval=30s&fetch_interval=10s
//
// The host part lists the servers, comma-separated, each host[:port] (DefaultPort when
// omitted); the path is their REST root (none: DefaultPath), so the URL above stands for
// Spring's defaultZone http://10.0.0.1:8761/eureka/,http://10.0.0.2:8761/eureka/.
// Parameters: tls=true for https; username and password (or user:password@ before the
// hosts) for WithBasicAuth; renewal_interval, lease_duration, fetch_interval and
// request_timeout as positive Go durations; status (UP, STARTING, DOWN, OUT_OF_SERVICE) for
// WithInitialStatus; health_path for WithHealthCheckPath. The rules every backend shares
// are registry.URLParser's: an unknown, repeated or empty parameter is an error. Errors wrap
// ErrInvalidConfig and registry.ErrInvalidURL; the URL in messages has its password hidden.
func ParseURL(u *url.URL) ([]string, []Option, error) {
	p, err := registry.NewURLParser(u, "eureka", ErrInvalidConfig, urlParams...)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := p.Hosts(DefaultPort)
	if err != nil {
		return nil, nil, err
	}
	useTLS, _, err := p.Bool("tls")
	if err != nil {
		return nil, nil, err
	}
	scheme := "http://"
	if useTLS {
		scheme = "https://"
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if path == "" {
		path = DefaultPath
	}
	servers := make([]string, len(hosts))
	for i, h := range hosts {
		servers[i] = scheme + h + path
	}
	var opts []Option
	user, pass, err := p.Credentials("username", "password")
	if err != nil {
		return nil, nil, err
	}
	if user != "" {
		opts = append(opts, WithBasicAuth(user, pass))
	}
	durations := []struct {
		key string
		opt func(d time.Duration) Option
	}{
		{"renewal_interval", WithRenewalInterval},
		{"lease_duration", WithLeaseDuration},
		{"fetch_interval", WithFetchInterval},
		{"request_timeout", WithRequestTimeout},
	}
	for _, d := range durations {
		v, ok, err := p.Duration(d.key)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			opts = append(opts, d.opt(v))
		}
	}
	if s := p.String("status"); s != "" {
		if !Status(s).valid() {
			return nil, nil, p.Errorf("parameter status=%q: want UP, DOWN, STARTING or OUT_OF_SERVICE", s)
		}
		opts = append(opts, WithInitialStatus(Status(s)))
	}
	if hp := p.String("health_path"); hp != "" {
		if !strings.HasPrefix(hp, "/") {
			return nil, nil, p.Errorf("parameter health_path=%q: want a path starting with /", hp)
		}
		opts = append(opts, WithHealthCheckPath(hp))
	}
	return servers, opts, nil
}
