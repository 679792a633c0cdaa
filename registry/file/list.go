package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tianshu-go/tianshu/registry"
)

var _ registry.ServiceLister = (*Registry)(nil)

// ListServices returns the services that have entry files in the directory, sorted: the
// subdirectories with a valid service name holding at least one entry. An entry may have
// expired (its owner died) until a scan removes it; GetService lists only live ones.
func (r *Registry) ListServices(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, fmt.Errorf("file: list services: %w", registry.ErrClosed)
	}
	dirents, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("file: list services in %s: %w: %w", r.dir, registry.ErrUnavailable, err)
	}
	var names []string // ReadDir sorts by name
	for _, d := range dirents {
		if !d.IsDir() || registry.ValidateName("service", d.Name()) != nil {
			continue
		}
		if hasEntry(filepath.Join(r.dir, d.Name())) {
			names = append(names, d.Name())
		}
	}
	return names, nil
}

// hasEntry reports whether dir holds a file a reader would take for an entry.
func hasEntry(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(64)
		for _, n := range names {
			if !strings.HasPrefix(n, ".") && strings.HasSuffix(n, entryExt) {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
}
