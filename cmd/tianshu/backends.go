package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/registry/etcd"

	// Registry backends `tianshu registry` and `tianshu new --registry` know: one import each.
	_ "github.com/tianshu-go/tianshu/registry/file"
	_ "github.com/tianshu-go/tianshu/registry/nacos"
	_ "github.com/tianshu-go/tianshu/registry/zookeeper"
)

// configSources are the remote config sources `tianshu config` reads, by URL scheme (files
// are built in): one entry per backend package that has a config.Source.
var configSources = map[string]cli.ConfigOpener{
	"etcd": openEtcdConfig,
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
	src, err := etcd.NewConfigSource(ctx, endpoints, key, opts...)
	if err != nil {
		return nil, nil, err
	}
	return src, src, nil
}
