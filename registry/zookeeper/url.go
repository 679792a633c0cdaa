package zookeeper

import (
	"context"
	"net/url"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("zookeeper", openURL) }

func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	servers, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, servers, opts...)
}

// DefaultPort is the port of a server given without one.
const DefaultPort = 2181

// urlParams are the query parameters ParseURL reads.
var urlParams = []string{"application", "dubbo_discovery", "layout", "password", "reconnect_max", "session_timeout", "user"}

// ParseURL reads a zookeeper:// URL into servers and options:
//
//	zookeeper://host1:2181,host2:2181/root?session_timeout=10s&layout=dubbo&user=u&password=p
//
// The host part lists the servers, comma-separated, each host[:port] (DefaultPort when
// omitted); the path is the root (none: the layout's default). Parameters: session_timeout
// and reconnect_max (positive Go durations), layout (tianshu or dubbo), user and password
// (or user:password@ before the hosts), application (the Dubbo application name) and
// dubbo_discovery (all, interface or application: WithDubboDiscovery).
// The rules every backend shares are registry.URLParser's: an unknown, repeated or empty
// parameter is an error. Errors wrap ErrInvalidConfig and registry.ErrInvalidURL; the URL in
// messages has its password hidden.
func ParseURL(u *url.URL) ([]string, []Option, error) {
	p, err := registry.NewURLParser(u, "zookeeper", ErrInvalidConfig, urlParams...)
	if err != nil {
		return nil, nil, err
	}
	servers, err := p.Hosts(DefaultPort)
	if err != nil {
		return nil, nil, err
	}
	var opts []Option
	if u.Path != "" && u.Path != "/" {
		opts = append(opts, WithRoot(u.Path))
	}
	if d, ok, err := p.Duration("session_timeout"); err != nil {
		return nil, nil, err
	} else if ok {
		opts = append(opts, WithSessionTimeout(d))
	}
	if d, ok, err := p.Duration("reconnect_max"); err != nil {
		return nil, nil, err
	} else if ok {
		opts = append(opts, WithReconnectBackoff(min(defaultReconnect.Base, d), d))
	}
	switch v := p.String("layout"); v {
	case "":
	case "tianshu":
		opts = append(opts, WithLayout(LayoutTianshu))
	case "dubbo":
		opts = append(opts, WithLayout(LayoutDubbo))
	default:
		return nil, nil, p.Errorf("parameter layout=%q: want tianshu or dubbo", v)
	}
	user, password, err := p.Credentials("user", "password")
	if err != nil {
		return nil, nil, err
	}
	if user != "" {
		opts = append(opts, WithAuth(user, password))
	}
	if p.Has("application") {
		app := p.String("application")
		opts = append(opts, func(o *options) { o.publish.Application = app })
	}
	if v := p.String("dubbo_discovery"); v != "" {
		m, err := dubbo.ParseDiscoveryMode(v)
		if err != nil {
			return nil, nil, p.Errorf("parameter dubbo_discovery=%q: want all, interface or application", v)
		}
		opts = append(opts, WithDubboDiscovery(m))
	}
	return servers, opts, nil
}
