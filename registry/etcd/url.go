package etcd

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("etcd", openURL) }

func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	endpoints, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, endpoints, opts...)
}

// urlParams are the query parameters ParseURL reads.
var urlParams = []string{"ca_file", "cert_file", "dial_timeout", "key_file", "lazy", "password", "server_name", "tls", "ttl", "username"}

// ParseURL reads an etcd:// URL into endpoints and options:
//
//	etcd://host1:2379,host2:2379/prefix?username=u&password=p&dial_timeout=5s&ttl=10s
//
// The host part lists the endpoints, comma-separated; the path is the key prefix (none:
// DefaultPrefix). Parameters: username and password (or user:password@ before the hosts);
// ttl and dial_timeout as Go durations; tls=true for TLS with the system roots, or ca_file,
// cert_file, key_file (PEM files) and server_name, any of which implies TLS; lazy=true for
// WithLazyConnect. Unknown
// parameters and bad values give an error wrapping ErrInvalidConfig; the URL in messages has
// its password redacted.
func ParseURL(u *url.URL) ([]string, []Option, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: URL %q: %s", ErrInvalidConfig, u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "etcd" {
		return nil, nil, bad("scheme must be etcd")
	}
	if u.Host == "" {
		return nil, nil, bad("no endpoint: want etcd://host:port[,host:port...]/prefix")
	}
	endpoints := strings.Split(u.Host, ",")
	if slices.Contains(endpoints, "") {
		return nil, nil, bad("empty endpoint in %q", u.Host)
	}
	var opts []Option
	if u.Path != "" && u.Path != "/" {
		opts = append(opts, WithPrefix(u.Path))
	}
	q := u.Query()
	for key := range q {
		if !slices.Contains(urlParams, key) {
			return nil, nil, bad("unknown parameter %q (known: %s)", key, strings.Join(urlParams, ", "))
		}
	}
	user, pass := q.Get("username"), q.Get("password")
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	if user != "" || pass != "" {
		opts = append(opts, WithAuth(user, pass))
	}
	for _, p := range []struct {
		key  string
		with func(time.Duration) Option
	}{{"ttl", WithTTL}, {"dial_timeout", WithDialTimeout}} {
		if v := q.Get(p.key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, nil, bad("parameter %s: %v", p.key, err)
			}
			opts = append(opts, p.with(d))
		}
	}
	if v := q.Get("lazy"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, nil, bad("parameter lazy: want true or false, got %q", v)
		}
		if b {
			opts = append(opts, WithLazyConnect())
		}
	}
	useTLS := false
	if v := q.Get("tls"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, nil, bad("parameter tls: want true or false, got %q", v)
		}
		useTLS = b
	}
	files := tlsFiles{ca: q.Get("ca_file"), cert: q.Get("cert_file"), key: q.Get("key_file"), serverName: q.Get("server_name")}
	if files != (tlsFiles{}) || useTLS {
		opts = append(opts, func(o *options) { o.tlsFiles = &files })
	}
	return endpoints, opts, nil
}
