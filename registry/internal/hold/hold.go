// Package hold has what the registry backends share to hold a shrinking list back after a
// session or connection was lost (ZooKeeper's session expiry, Nacos' reconnection): the
// providers' entries may come back a moment later, and a consumer must not publish the gap.
package hold

import (
	"slices"

	"github.com/tianshu-go/tianshu/registry"
)

// WithMissing returns next with the instances of prev whose IDs next lacks, and how many
// those were.
func WithMissing(prev, next []*registry.Instance) ([]*registry.Instance, int) {
	ids := make(map[string]bool, len(next))
	for _, in := range next {
		ids[in.ID] = true
	}
	out, n := next, 0
	for _, in := range prev {
		if !ids[in.ID] {
			if n == 0 {
				out = slices.Clone(next)
			}
			out = append(out, in)
			n++
		}
	}
	if n > 0 {
		registry.SortInstances(out)
	}
	return out, n
}
