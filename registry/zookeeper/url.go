package zookeeper

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("zookeeper", openURL) }

// openURL opens zookeeper://host1:2181,host2:2181/root?session_timeout=10s&layout=dubbo&user=u&password=p.
func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	opts, servers, err := parseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, servers, opts...)
}

// URLParams lists the query parameters registry.Open accepts in zookeeper:// URLs.
var urlParams = []string{"application", "layout", "password", "reconnect_max", "session_timeout", "user"}

func parseURL(u *url.URL) ([]Option, []string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: URL %q: %s", ErrInvalidConfig, u.Redacted(), fmt.Sprintf(format, args...))
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, nil, bad("want zookeeper://host:port[,host:port...][/root][?parameters]")
	}
	if u.User != nil {
		return nil, nil, bad("put credentials in the user and password parameters, not before the host")
	}
	servers := strings.Split(u.Host, ",")
	var opts []Option
	if u.Path != "" && u.Path != "/" {
		opts = append(opts, WithRoot(u.Path))
	}
	q := u.Query()
	for key, vals := range q {
		v := vals[len(vals)-1]
		switch key {
		case "session_timeout", "reconnect_max":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, nil, bad("parameter %s: %v", key, err)
			}
			if key == "session_timeout" {
				opts = append(opts, WithSessionTimeout(d))
			} else {
				opts = append(opts, WithReconnectBackoff(min(defaultReconnect.Base, d), d))
			}
		case "layout":
			switch v {
			case "tianshu":
				opts = append(opts, WithLayout(LayoutTianshu))
			case "dubbo":
				opts = append(opts, WithLayout(LayoutDubbo))
			default:
				return nil, nil, bad("layout %q: want tianshu or dubbo", v)
			}
		case "user", "password", "application":
		default:
			return nil, nil, bad("unknown parameter %q (known: %s)", key, strings.Join(urlParams, ", "))
		}
	}
	if q.Has("user") || q.Has("password") {
		opts = append(opts, WithAuth(q.Get("user"), q.Get("password")))
	}
	if q.Has("application") {
		opts = append(opts, func(o *options) { o.publish.Application = q.Get("application") })
	}
	return opts, servers, nil
}
