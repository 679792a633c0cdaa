package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/registry"
)

var _ registry.ServiceLister = (*Registry)(nil)

// ListServices returns the services under the root whose providers node has at least one
// child, sorted. An instance left by a dead session is listed until ZooKeeper expires it.
// It makes one request per child of the root.
func (r *Registry) ListServices(ctx context.Context) ([]string, error) {
	if r.isClosed() {
		return nil, fmt.Errorf("zookeeper: list services: %w", registry.ErrClosed)
	}
	if err := r.waitReady(ctx); err != nil {
		return nil, fmt.Errorf("zookeeper: list services: %w", err)
	}
	children, _, err := r.conn.Children(r.opts.root)
	if errors.Is(err, zk.ErrNoNode) {
		return []string{}, nil
	}
	if err != nil {
		return nil, r.wrapErr("list", r.opts.root, err)
	}
	names := make([]string, 0, len(children))
	for _, c := range children {
		if registry.ValidateName("service", c) != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("zookeeper: list services: %w: %w", registry.ErrUnavailable, err)
		}
		p := r.providersPath(c)
		_, st, err := r.conn.Exists(p)
		if err != nil {
			return nil, r.wrapErr("list", p, err)
		}
		if st != nil && st.NumChildren > 0 {
			names = append(names, c)
		}
	}
	slices.Sort(names)
	return names, nil
}
