// Package configurl opens a config.Source named by a URL, the form Tianshu's commands take
// (`tianshu config --source`, `tianshu-gateway -config`) and a service may take from a flag:
//
//	/etc/orders.yaml or file:///etc/orders.yaml              a YAML file (file://a.yaml: relative)
//	etcd://host:2379[,host:2379]/app/orders.yaml?username=…   a key (a trailing slash: every key under it)
//	zookeeper://host:2181[,host:2181]/app/orders.yaml?user=…  a node
//	nacos://host:8848/namespace?data_id=orders.yaml&group=G   a Nacos document
//	springconfig://host:8888[,host:8888][/prefix]/orders?profile=prod&label=main&poll=30s
//	                                                          a Spring Cloud Config Server
//	                                                          (springconfig+https:// for TLS)
//
// A URL's other parameters are those its registry backend's URL takes (see
// registry/etcd.ParseURL, registry/zookeeper, registry/nacos.ParseURL), so that one
// connection string serves for both. Importing this package links every config backend.
package configurl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/config/file"
	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	"github.com/tianshu-go/tianshu/config/springconfig"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// ErrURL is wrapped by the errors about a URL that names no source: an unknown scheme, or
// one without the key, node, document or application it needs. A source that cannot be
// reached is another error (its backend's, wrapping registry.ErrUnavailable).
var ErrURL = errors.New("configurl: invalid config URL")

// Schemes lists the URL schemes Open knows, sorted; a path without a scheme is a file.
func Schemes() []string {
	return []string{"etcd", "file", "nacos", "springconfig", "springconfig+https", "zookeeper"}
}

// Open opens the source raw names. The closer releases the source's client when it holds
// one (nil for a file or a Config Server, which hold none): close it after the last use.
func Open(ctx context.Context, raw string) (config.Source, io.Closer, error) {
	scheme, path, found := strings.Cut(raw, "://")
	if !found {
		return file.New(raw), nil, nil
	}
	if scheme == "file" {
		// What follows file:// is the path as given, so that file://config/app.yaml is
		// relative, as users write it, rather than a file on host "config".
		if path == "" {
			return nil, nil, fmt.Errorf("%w: %s names no file: want file:///path/to/app.yaml", ErrURL, raw)
		}
		return file.New(path), nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrURL, err)
	}
	switch scheme {
	case "etcd":
		return openEtcd(ctx, u)
	case "zookeeper":
		return openZooKeeper(ctx, u)
	case "nacos":
		return openNacos(ctx, u)
	case "springconfig", "springconfig+https":
		return openSpring(u)
	}
	return nil, nil, fmt.Errorf("%w: scheme %q: want a file path or one of %s://", ErrURL, scheme, strings.Join(Schemes(), "://, "))
}

func openEtcd(ctx context.Context, u *url.URL) (config.Source, io.Closer, error) {
	key := u.Path
	if key == "" || key == "/" {
		return nil, nil, fmt.Errorf("%w: %s names no key: want etcd://host:2379/path/to/key", ErrURL, u.Redacted())
	}
	endpoints, opts, err := etcd.ParseURL(u)
	if err != nil {
		return nil, nil, err
	}
	cli, err := etcd.Dial(ctx, endpoints, opts...)
	if err != nil {
		return nil, nil, err
	}
	src, err := etcdconfig.New(cli, key, etcdconfig.CloseClient())
	if err != nil {
		_ = cli.Close()
		return nil, nil, err
	}
	return src, src, nil
}

func openZooKeeper(ctx context.Context, u *url.URL) (config.Source, io.Closer, error) {
	node := u.Path
	if node == "" || node == "/" {
		return nil, nil, fmt.Errorf("%w: %s names no node: want zookeeper://host:2181/path/to/node", ErrURL, u.Redacted())
	}
	servers, opts, err := zookeeper.ParseURL(&url.URL{Scheme: u.Scheme, User: u.User, Host: u.Host, RawQuery: u.RawQuery})
	if err != nil {
		return nil, nil, err
	}
	reg, err := zookeeper.New(ctx, servers, opts...)
	if err != nil {
		return nil, nil, err
	}
	src, err := zkconfig.Node(reg, node)
	if err != nil {
		_ = reg.Close()
		return nil, nil, err
	}
	return src, reg, nil
}

func openNacos(ctx context.Context, u *url.URL) (config.Source, io.Closer, error) {
	q := u.Query()
	dataID := q.Get("data_id")
	if dataID == "" {
		return nil, nil, fmt.Errorf("%w: %s names no document: want nacos://host:8848/namespace?data_id=app.yaml", ErrURL, u.Redacted())
	}
	q.Del("data_id")
	v := *u
	v.RawQuery = q.Encode()
	servers, opts, err := nacos.ParseURL(&v)
	if err != nil {
		return nil, nil, err
	}
	src, err := nacosconfig.New(ctx, servers, []string{dataID}, nacos.ConfigOptions(opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return src, src, nil
}

// openSpring reads springconfig://host:8888[,host:8888][/prefix]/app?profile=a,b&label=L
// (&poll=30s; user:password@ before the hosts for HTTP basic authentication): the hosts
// are tried in order, as Spring's spring.cloud.config.uri list is.
func openSpring(u *url.URL) (config.Source, io.Closer, error) {
	p, err := registry.NewURLParser(u, u.Scheme, ErrURL, "profile", "label", "poll", "user", "password")
	if err != nil {
		return nil, nil, err
	}
	// The last segment is the application; what comes before it, the server's prefix
	// (spring.cloud.config.server.prefix or a servlet context path).
	prefix, app := "", strings.TrimSuffix(u.Path, "/")
	if i := strings.LastIndexByte(app, '/'); i >= 0 {
		prefix, app = app[:i], app[i+1:]
	}
	if app == "" {
		return nil, nil, p.Errorf("names no application: want springconfig://host:8888[/prefix]/orders")
	}
	hosts, err := p.Hosts(8888)
	if err != nil {
		return nil, nil, err
	}
	scheme := "http://"
	if u.Scheme == "springconfig+https" {
		scheme = "https://"
	}
	servers := make([]string, len(hosts))
	for i, h := range hosts {
		servers[i] = scheme + h + prefix
	}
	var opts []springconfig.Option
	if v := p.String("profile"); v != "" {
		opts = append(opts, springconfig.WithProfiles(strings.Split(v, ",")...))
	}
	if v := p.String("label"); v != "" {
		opts = append(opts, springconfig.WithLabel(v))
	}
	if d, ok, err := p.Duration("poll"); err != nil {
		return nil, nil, err
	} else if ok {
		opts = append(opts, springconfig.WithPoll(d))
	}
	if user, pw, err := p.Credentials("user", "password"); err != nil {
		return nil, nil, err
	} else if user != "" {
		opts = append(opts, springconfig.WithBasicAuth(user, pw))
	}
	src, err := springconfig.New(servers, app, opts...)
	if err != nil {
		return nil, nil, err
	}
	return src, nil, nil
}
