package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/config/file"
	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"

	// Registry backends -registry knows: one import each.
	_ "github.com/tianshu-go/tianshu/registry/file"
)

// openSource opens -config: a file path or file:// URL, or a config center's URL in the
// forms `tianshu config --source` takes. The closer, if any, releases the source's client.
func openSource(ctx context.Context, raw string) (config.Source, io.Closer, error) {
	scheme, _, found := strings.Cut(raw, "://")
	if !found {
		return file.New(raw), nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch scheme {
	case "file":
		return file.New(u.Path), nil, nil
	case "etcd":
		key := u.Path
		if key == "" || key == "/" {
			return nil, nil, fmt.Errorf("%w: %s names no key: want etcd://host:2379/path/to/key", errUsage, u.Redacted())
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
	case "zookeeper":
		node := u.Path
		if node == "" || node == "/" {
			return nil, nil, fmt.Errorf("%w: %s names no node: want zookeeper://host:2181/path/to/node", errUsage, u.Redacted())
		}
		u.Path = ""
		reg, err := registry.Open(ctx, u.String())
		if err != nil {
			return nil, nil, err
		}
		zk, ok := reg.(*zookeeper.Registry)
		if !ok {
			_ = reg.Close()
			return nil, nil, fmt.Errorf("zookeeper URL %s opened a %T", u.Redacted(), reg)
		}
		src, err := zkconfig.Node(zk, node)
		if err != nil {
			_ = reg.Close()
			return nil, nil, err
		}
		return src, reg, nil
	case "nacos":
		q := u.Query()
		dataID := q.Get("data_id")
		if dataID == "" {
			return nil, nil, fmt.Errorf("%w: %s names no document: want nacos://host:8848/namespace?data_id=gateway.yaml", errUsage, u.Redacted())
		}
		q.Del("data_id")
		u.RawQuery = q.Encode()
		servers, opts, err := nacos.ParseURL(u)
		if err != nil {
			return nil, nil, err
		}
		src, err := nacosconfig.New(ctx, servers, []string{dataID}, nacos.ConfigOptions(opts...)...)
		if err != nil {
			return nil, nil, err
		}
		return src, src, nil
	}
	return nil, nil, fmt.Errorf("%w: -config scheme %q: want a file path, file://, etcd://, zookeeper:// or nacos://", errUsage, scheme)
}
