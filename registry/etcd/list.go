package etcd

import (
	"context"
	"maps"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/registry"
)

var _ registry.ServiceLister = (*Registry)(nil)

// ListServices returns the services that have at least one key under the prefix, sorted.
// It reads the keys only, not the instances.
func (r *Registry) ListServices(ctx context.Context) ([]string, error) {
	if r.isClosed() {
		return nil, r.opError("list services", registry.ErrClosed)
	}
	base := r.opts.prefix + "/"
	resp, err := r.cli.Get(ctx, base, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, r.opError("list services", err)
	}
	seen := map[string]bool{}
	for _, kv := range resp.Kvs {
		service, id, ok := strings.Cut(strings.TrimPrefix(string(kv.Key), base), "/")
		if ok && id != "" && registry.ValidateName("service", service) == nil {
			seen[service] = true
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
