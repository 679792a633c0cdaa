package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestFailoverCacheKeepsOnlyValidInstancesOfTheServiceOncePerID(t *testing.T) {
	dir := t.TempDir()
	file := `[
		{"id":"b","service":"orders","endpoints":["grpc://10.0.0.2:9000"]},
		{"id":"a","service":"orders","endpoints":["grpc://10.0.0.1:9000"]},
		{"id":"a","service":"orders","endpoints":["grpc://10.0.0.9:9000"]},
		{"id":"c","service":"payments","endpoints":["grpc://10.0.0.3:9000"]},
		{"id":"d","service":"orders","endpoints":[]},
		null
	]`
	if err := os.WriteFile(filepath.Join(dir, "orders.json"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	back := &flaky{Registry: memory.New()}
	defer back.Close()
	back.down.Store(true)
	var logs logBuffer
	f := registry.NewFailover(back, registry.WithCacheDir(dir), registry.WithFailoverLogger(quietLogger(&logs)))
	list, err := f.GetService(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if !registrytest.HasIDs("a", "b")(list) || list[0].Endpoints[0].Host != "10.0.0.1" {
		t.Fatalf("cached list %s, want a (its first entry) and b", registrytest.IDs(list))
	}
	if !strings.Contains(logs.String(), `skipped=4`) {
		t.Errorf("skipped entries not logged with their count; logs:\n%s", logs.String())
	}
}
