package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"

	// Registry backends `tianshu registry` and `tianshu new --registry` know: one import each.
	_ "github.com/tianshu-go/tianshu/registry/eureka"
	_ "github.com/tianshu-go/tianshu/registry/file"
)

// configSources are the remote config sources `tianshu config` reads, by URL scheme (files
// are built in): one entry per config/<backend> package.
var configSources = map[string]cli.ConfigOpener{
	"etcd":      openEtcdConfig,
	"zookeeper": openZooKeeperConfig,
	"nacos":     openNacosConfig,
}

// openZooKeeperConfig opens zookeeper://host:2181[,host:2181]/path/to/node?user=…: the URL's
// path is the node holding the document, its parameters those of the ZooKeeper registry.
func openZooKeeperConfig(ctx context.Context, rawURL string) (config.Source, io.Closer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	node := u.Path
	if node == "" || node == "/" {
		return nil, nil, fmt.Errorf("%w: %s names no node: want zookeeper://host:2181/path/to/node", cli.ErrUsage, u.Redacted())
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
}

// openNacosConfig opens nacos://host:8848/namespace?data_id=app.yaml&group=G: data_id names
// the document, the other parameters are those of the Nacos registry.
func openNacosConfig(ctx context.Context, rawURL string) (config.Source, io.Closer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	q := u.Query()
	dataID := q.Get("data_id")
	if dataID == "" {
		return nil, nil, fmt.Errorf("%w: %s names no document: want nacos://host:8848/namespace?data_id=app.yaml", cli.ErrUsage, u.Redacted())
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

// openEtcdConfig opens etcd://host:2379[,host:2379]/key?username=…: the URL's path is the key
// (a trailing slash: every key under that prefix), its parameters those of the etcd registry.
func openEtcdConfig(ctx context.Context, rawURL string) (config.Source, io.Closer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	key := u.Path
	endpoints, opts, err := etcd.ParseURL(u)
	if err != nil {
		return nil, nil, err
	}
	if key == "" || key == "/" || !strings.HasPrefix(key, "/") {
		return nil, nil, fmt.Errorf("%w: %s names no key: want etcd://host:2379/path/to/key", cli.ErrUsage, u.Redacted())
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
