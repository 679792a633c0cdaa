package nacos

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("nacos", openURL) }

func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	servers, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, servers, opts...)
}

// DefaultPort is the HTTP port of a server given without one in a URL.
const DefaultPort = 8848

// urlParams are the query parameters ParseURL reads.
var urlParams = []string{"app", "cache_dir", "cluster", "clusters", "dubbo_consumers", "dubbo_discovery", "dubbo_group",
	"dubbo_version", "group", "naming", "password", "timeout", "username"}

// ParseURL reads a nacos:// URL into server addresses and options:
//
//	nacos://127.0.0.1:8848,10.0.0.2:8848/namespace?group=G&cluster=C&username=u&password=p&cache_dir=/var/cache/app
//
// The host part lists HTTP addresses, comma-separated, each host[:port] (DefaultPort when
// omitted; gRPC is on port+1000, so the port is at most 64535); the path is the namespace
// ID (none: public). Parameters: group, cluster (where this process registers), clusters
// (comma-separated: the only clusters consumers list, WithClusters), username and password
// (or user:password@ before the hosts), cache_dir (WithDir), timeout (a positive Go
// duration), app (WithApplication), and naming=dubbo with dubbo_version and dubbo_group for
// WithDubboNaming, dubbo_consumers=true for WithDubboConsumers and dubbo_discovery (all,
// interface or application) for WithDubboDiscovery.
// The rules every backend shares are registry.URLParser's: an unknown, repeated or empty
// parameter is an error. Errors wrap ErrInvalidConfig and registry.ErrInvalidURL; messages
// show the URL with its password hidden.
func ParseURL(u *url.URL) ([]string, []Option, error) {
	p, err := registry.NewURLParser(u, "nacos", ErrInvalidConfig, urlParams...)
	if err != nil {
		return nil, nil, err
	}
	servers, err := p.Hosts(DefaultPort)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range servers {
		// p.Hosts checked the form; Nacos's own limit is the room for the gRPC port.
		_, port, _ := net.SplitHostPort(s)
		if n, _ := strconv.Atoi(port); n > 64535 {
			return nil, nil, p.Errorf("host %q: port %s: want at most 64535 (gRPC listens on port+1000)", s, port)
		}
	}
	var opts []Option
	if ns := strings.Trim(u.Path, "/"); ns != "" {
		if strings.Contains(ns, "/") {
			return nil, nil, p.Errorf("the path is one namespace ID, not %q", ns)
		}
		opts = append(opts, WithNamespace(ns))
	}
	user, pass, err := p.Credentials("username", "password")
	if err != nil {
		return nil, nil, err
	}
	if user != "" {
		opts = append(opts, WithAuth(user, pass))
	}
	if v := p.String("group"); v != "" {
		opts = append(opts, WithGroup(v))
	}
	if v := p.String("cluster"); v != "" {
		opts = append(opts, WithCluster(v))
	}
	if v := p.String("clusters"); v != "" {
		opts = append(opts, WithClusters(strings.Split(v, ",")...))
	}
	if v := p.String("cache_dir"); v != "" {
		opts = append(opts, WithDir(v))
	}
	if v := p.String("app"); v != "" {
		opts = append(opts, WithApplication(v))
	}
	if d, ok, err := p.Duration("timeout"); err != nil {
		return nil, nil, err
	} else if ok {
		opts = append(opts, WithTimeout(d))
	}
	switch v := p.String("naming"); v {
	case "", "tianshu":
		if p.Has("dubbo_version") || p.Has("dubbo_group") || p.Has("dubbo_consumers") || p.Has("dubbo_discovery") {
			return nil, nil, p.Errorf("dubbo_version, dubbo_group, dubbo_consumers and dubbo_discovery need naming=dubbo")
		}
	case "dubbo":
		opts = append(opts, WithDubboNaming(p.String("dubbo_version"), p.String("dubbo_group")))
		if on, _, err := p.Bool("dubbo_consumers"); err != nil {
			return nil, nil, err
		} else if on {
			opts = append(opts, WithDubboConsumers())
		}
		if v := p.String("dubbo_discovery"); v != "" {
			m, err := dubbo.ParseDiscoveryMode(v)
			if err != nil {
				return nil, nil, p.Errorf("parameter dubbo_discovery=%q: want all, interface or application", v)
			}
			opts = append(opts, WithDubboDiscovery(m))
		}
	default:
		return nil, nil, p.Errorf("parameter naming=%q: want tianshu or dubbo", v)
	}
	return servers, opts, nil
}
