package nacos

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

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

// urlParams are the query parameters ParseURL reads.
var urlParams = []string{"app", "cache_dir", "cluster", "clusters", "dubbo_group", "dubbo_version", "group", "naming", "password", "timeout", "username"}

// ParseURL reads a nacos:// URL into server addresses and options:
//
//	nacos://127.0.0.1:8848,10.0.0.2:8848/namespace?group=G&cluster=C&username=u&password=p&cache_dir=/var/cache/app
//
// The host part lists HTTP addresses, comma-separated (gRPC is on port+1000); the path is the
// namespace ID (none: public). Parameters: group, cluster (where this process registers),
// clusters (comma-separated: the only clusters consumers list, WithClusters), username and
// password (or user:password@ before the hosts), cache_dir (WithDir), timeout (a Go
// duration), app (WithApplication), and naming=dubbo with dubbo_version and dubbo_group for
// WithDubboNaming.
// Unknown parameters and bad values give an error wrapping ErrInvalidConfig; messages show
// the URL with its password redacted.
func ParseURL(u *url.URL) ([]string, []Option, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: URL %q: %s", ErrInvalidConfig, redact(u), fmt.Sprintf(format, args...))
	}
	if u.Scheme != "nacos" {
		return nil, nil, bad("scheme must be nacos")
	}
	if u.Host == "" {
		return nil, nil, bad("no server: want nacos://host:port[,host:port...]/namespace")
	}
	servers := strings.Split(u.Host, ",")
	if _, _, err := parseServers(servers); err != nil {
		return nil, nil, bad("%v", err)
	}
	var opts []Option
	if ns := strings.Trim(u.Path, "/"); ns != "" {
		if strings.Contains(ns, "/") {
			return nil, nil, bad("the path is one namespace ID, not %q", ns)
		}
		opts = append(opts, WithNamespace(ns))
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
	if v := q.Get("group"); v != "" {
		opts = append(opts, WithGroup(v))
	}
	if v := q.Get("cluster"); v != "" {
		opts = append(opts, WithCluster(v))
	}
	if v := q.Get("clusters"); v != "" {
		opts = append(opts, WithClusters(strings.Split(v, ",")...))
	}
	if v := q.Get("cache_dir"); v != "" {
		opts = append(opts, WithDir(v))
	}
	if v := q.Get("app"); v != "" {
		opts = append(opts, WithApplication(v))
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, nil, bad("parameter timeout %q: want a positive Go duration such as 3s", v)
		}
		opts = append(opts, WithTimeout(d))
	}
	switch q.Get("naming") {
	case "", "tianshu":
		if q.Has("dubbo_version") || q.Has("dubbo_group") {
			return nil, nil, bad("dubbo_version and dubbo_group need naming=dubbo")
		}
	case "dubbo":
		opts = append(opts, WithDubboNaming(q.Get("dubbo_version"), q.Get("dubbo_group")))
	default:
		return nil, nil, bad("parameter naming %q: want tianshu or dubbo", q.Get("naming"))
	}
	return servers, opts, nil
}

// redact returns the URL with its password, in the user part or the query, hidden.
func redact(u *url.URL) string {
	c := *u
	if q := c.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}
