package etcd

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
)

// Dial connects to etcd as New does (WithAuth, WithTLS, WithTLSFiles, WithDialTimeout and
// WithLogger apply) and reads the WithPrefix prefix once, so that refused credentials give
// ErrAuth and an unreachable server an error wrapping registry.ErrUnavailable after the dial
// timeout. It returns a client for the config sources of package config/etcd, or for other
// work; the caller closes it.
//
//	cli, err := etcd.Dial(ctx, endpoints, etcd.WithAuth(user, pw))
//	src, err := etcdconfig.New(cli, "/config/orders.yaml", etcdconfig.CloseClient())
func Dial(ctx context.Context, endpoints []string, opts ...Option) (*clientv3.Client, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	cli, _, err := dial(ctx, endpoints, &o, o.prefix+"/", false)
	return cli, err
}

// ConfigSource is a config source over an etcd key or prefix.
//
// Deprecated: use Source of package config/etcd; this alias goes in the next release.
type ConfigSource = etcdconfig.Source

// NewConfigSource connects to etcd and returns a source over key; Close releases the
// connection.
//
// Deprecated: use Dial and config/etcd.New(cli, key, etcdconfig.CloseClient()).
func NewConfigSource(ctx context.Context, endpoints []string, key string, opts ...Option) (*ConfigSource, error) {
	if key == "" {
		return nil, fmt.Errorf("%w: config key is empty", ErrInvalidConfig)
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	cli, _, err := dial(ctx, endpoints, &o, key, false)
	if err != nil {
		return nil, err
	}
	s, err := etcdconfig.New(cli, key, append(sourceOptions(&o), etcdconfig.CloseClient())...)
	if err != nil {
		_ = cli.Close()
		return nil, err
	}
	return s, nil
}

// ConfigSource returns a source over key (a prefix when it ends in a slash) that shares the
// Registry's connection; it stops working when the Registry is closed. An empty key gives
// nil.
//
// Deprecated: use config/etcd.New(r.Client(), key).
func (r *Registry) ConfigSource(key string) *ConfigSource {
	s, err := etcdconfig.New(r.cli, key, sourceOptions(&r.opts)...)
	if err != nil {
		return nil
	}
	return s
}

// sourceOptions carries the options a source made here had before it moved to config/etcd.
func sourceOptions(o *options) []etcdconfig.Option {
	return []etcdconfig.Option{
		etcdconfig.WithRetry(o.retry.Base, o.retry.Max),
		etcdconfig.WithReadTimeout(o.dialTimeout),
		etcdconfig.WithLogger(o.log),
	}
}
