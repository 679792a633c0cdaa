package etcd

import (
	"context"
	"net/url"

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

// DefaultPort is the port of an endpoint given without one in a URL.
const DefaultPort = 2379

// urlParams are the query parameters ParseURL reads.
var urlParams = []string{"ca_file", "cert_file", "dial_timeout", "key_file", "lazy", "password", "server_name", "tls", "ttl", "username"}

// ParseURL reads an etcd:// URL into endpoints and options:
//
//	etcd://host1:2379,host2:2379/prefix?username=u&password=p&dial_timeout=5s&ttl=10s
//
// The host part lists the endpoints, comma-separated, each host[:port] (DefaultPort when
// omitted); the path is the key prefix (none: DefaultPrefix). Parameters: username and
// password (or user:password@ before the hosts); ttl and dial_timeout as positive Go
// durations; tls=true for TLS with the system roots, or ca_file, cert_file, key_file (PEM
// files) and server_name, any of which implies TLS; lazy=true for WithLazyConnect.
// The rules every backend shares are registry.URLParser's: an unknown, repeated or empty
// parameter is an error. Errors wrap ErrInvalidConfig and registry.ErrInvalidURL; the URL in
// messages has its password hidden.
func ParseURL(u *url.URL) ([]string, []Option, error) {
	p, err := registry.NewURLParser(u, "etcd", ErrInvalidConfig, urlParams...)
	if err != nil {
		return nil, nil, err
	}
	endpoints, err := p.Hosts(DefaultPort)
	if err != nil {
		return nil, nil, err
	}
	var opts []Option
	if u.Path != "" && u.Path != "/" {
		opts = append(opts, WithPrefix(u.Path))
	}
	user, pass, err := p.Credentials("username", "password")
	if err != nil {
		return nil, nil, err
	}
	if user != "" {
		opts = append(opts, WithAuth(user, pass))
	}
	if d, ok, err := p.Duration("ttl"); err != nil {
		return nil, nil, err
	} else if ok {
		opts = append(opts, WithTTL(d))
	}
	if d, ok, err := p.Duration("dial_timeout"); err != nil {
		return nil, nil, err
	} else if ok {
		opts = append(opts, WithDialTimeout(d))
	}
	if lazy, _, err := p.Bool("lazy"); err != nil {
		return nil, nil, err
	} else if lazy {
		opts = append(opts, WithLazyConnect())
	}
	useTLS, _, err := p.Bool("tls")
	if err != nil {
		return nil, nil, err
	}
	files := tlsFiles{ca: p.String("ca_file"), cert: p.String("cert_file"), key: p.String("key_file"), serverName: p.String("server_name")}
	if files != (tlsFiles{}) || useTLS {
		opts = append(opts, func(o *options) { o.tlsFiles = &files })
	}
	return endpoints, opts, nil
}
