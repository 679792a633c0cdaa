package file_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestListServices(t *testing.T) {
	dir := t.TempDir()
	registrytest.RunServiceLister(t, func(t testing.TB) registry.Registry {
		r, err := file.New(context.Background(), dir, file.WithTTL(5*time.Second))
		if err != nil {
			t.Fatalf("file.New: %v", err)
		}
		return r
	}, 0)
}

// Directories that hold no entry are not services: one emptied by deregistration, one with
// only a writer's temporary file, one whose name no service may have.
func TestListServicesSkipsDirectoriesWithoutEntries(t *testing.T) {
	dir := t.TempDir()
	for path, data := range map[string]string{
		"emptied/":            "",
		"writing/.x.json.tmp": "{}",
		"bad name/x.json":     "{}",
		".hidden/x.json":      "{}",
		"orders/notes.txt":    "",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := open(t, dir)
	if err := r.Register(context.Background(), registrytest.NewInstance("orders", "orders-1", 9000)); err != nil {
		t.Fatal(err)
	}
	got, err := r.ListServices(context.Background())
	if err != nil || !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("ListServices = %v, %v; want [orders]", got, err)
	}
}
