package file

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func TestWatchersFollowChangesByPollingWhenFsnotifyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cons, err := New(ctx, dir, WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cons.Close() })
	cons.notifyErr = errors.New("test: fsnotify disabled") // as if inotify instances ran out
	prov, err := New(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prov.Close() })

	w, err := cons.Watch(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	if cons.notify != nil {
		t.Fatal("a notifier was started although fsnotify is unavailable")
	}
	if list, err := w.Next(); err != nil || len(list) != 0 {
		t.Fatalf("first Next = %d instances, %v; want none", len(list), err)
	}
	in := &registry.Instance{ID: "a", Service: "orders", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 1}}}
	if err := prov.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	got := make(chan []*registry.Instance, 1)
	go func() { list, _ := w.Next(); got <- list }()
	select {
	case list := <-got:
		if len(list) != 1 || !list[0].Equal(in) {
			t.Fatalf("Next = %v, want [a]", list)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the polling watcher did not see the new instance within 10s")
	}
}

func TestOneScannerPerServiceStopsWithItsLastWatcher(t *testing.T) {
	ctx := context.Background()
	r, err := New(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	w1, _ := r.Watch(ctx, "orders")
	w2, _ := r.Watch(ctx, "orders")
	if n := len(r.watches); n != 1 {
		t.Fatalf("two watchers of one service run %d scanners, want 1", n)
	}
	_ = w1.Stop()
	if _, ok := r.watches["orders"]; !ok {
		t.Fatal("the scanner stopped while a watcher remains")
	}
	_ = w2.Stop()
	if _, ok := r.watches["orders"]; ok {
		t.Fatal("the scanner runs after its last watcher stopped")
	}
	if dirs := r.notify.fw.WatchList(); len(dirs) != 0 {
		t.Fatalf("fsnotify still watches %v", dirs)
	}
}
