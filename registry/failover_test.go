package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// flaky is a backend whose server can be taken down: reads fail with ErrUnavailable and it
// reports itself unhealthy, while watchers already running keep their connection.
type flaky struct {
	*memory.Registry
	down atomic.Bool
	// asked counts Healthy calls: a Failover asks when an update would empty a list, so a
	// test can wait until it has judged one.
	asked atomic.Int64
}

func (f *flaky) Healthy() bool {
	f.asked.Add(1)
	return !f.down.Load()
}

func (f *flaky) GetService(ctx context.Context, s string) ([]*registry.Instance, error) {
	if f.down.Load() {
		return nil, fmt.Errorf("flaky: %w", registry.ErrUnavailable)
	}
	return f.Registry.GetService(ctx, s)
}

func (f *flaky) Watch(ctx context.Context, s string) (registry.Watcher, error) {
	if f.down.Load() {
		return nil, fmt.Errorf("flaky: %w", registry.ErrUnavailable)
	}
	return f.Registry.Watch(ctx, s)
}

// logBuffer collects log output written from other goroutines.
type logBuffer struct{ testenv.Buffer }

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s", what)
		}
	}
}

func quietLogger(buf *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

func TestFailoverPassesTheConformanceSuite(t *testing.T) {
	root := memory.New()
	t.Cleanup(func() { _ = root.Close() })
	registrytest.Run(t, registrytest.Backend{
		Open: func(testing.TB) registry.Registry { return registry.NewFailover(root.Share()) },
	})
}

func TestFailoverServesTheLastGoodListWhenTheBackendIsDown(t *testing.T) {
	ctx := context.Background()
	back := &flaky{Registry: memory.New()}
	defer back.Close()
	var logs logBuffer
	f := registry.NewFailover(back, registry.WithFailoverLogger(quietLogger(&logs)))
	in := registrytest.NewInstance("orders", "a", 7001)
	if err := back.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetService(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	back.down.Store(true)
	list, err := f.GetService(ctx, "orders")
	if err != nil || !registrytest.HasIDs("a")(list) {
		t.Fatalf("GetService while down = %s, %v; want [a], nil", registrytest.IDs(list), err)
	}
	if !strings.Contains(logs.String(), "last good instance list") {
		t.Errorf("no warning logged; logs:\n%s", logs.String())
	}
	if _, err := f.GetService(ctx, "never-seen"); !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("GetService of an uncached service while down = %v, want ErrUnavailable", err)
	}
}

func TestFailoverStartsFromTheDiskCacheAndRecoversWhenTheBackendReturns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	back := &flaky{Registry: memory.New()}
	defer back.Close()
	var logs logBuffer
	opts := []registry.FailoverOption{registry.WithCacheDir(dir), registry.WithFailoverLogger(quietLogger(&logs)), registry.WithRetry(5*time.Millisecond, 20*time.Millisecond)}

	// A first process sees a and b, which lands in the disk cache.
	for _, id := range []string{"a", "b"} {
		if err := back.Register(ctx, registrytest.NewInstance("orders", id, 7001)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registry.NewFailover(back, opts...).GetService(ctx, "orders"); err != nil {
		t.Fatal(err)
	}

	// A second process starts while the backend is down: it watches from the disk cache.
	back.down.Store(true)
	f := registry.NewFailover(back, opts...)
	w, err := f.Watch(ctx, "orders")
	if err != nil {
		t.Fatalf("Watch while down with a disk cache = %v", err)
	}
	follow := registrytest.NewFollow(t, w)
	follow.Until(5*time.Second, "the cached a and b", registrytest.HasIDs("a", "b"))

	// The backend returns with a change; the watcher picks it up by itself.
	if err := back.Deregister(ctx, registrytest.NewInstance("orders", "a", 7001)); err != nil {
		t.Fatal(err)
	}
	back.down.Store(false)
	follow.Until(10*time.Second, "only b once the backend is back", registrytest.HasIDs("b"))
}

// blind is a backend whose server is down, that keeps the registry contract for that case:
// its watches start at once with an empty list (to deliver once it connects) and it reports
// itself unhealthy.
type blind struct{ *memory.Registry }

func (blind) Healthy() bool { return false }

func TestFailoverStartsFromTheDiskCacheWhenTheBackendWatchesBlind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs logBuffer
	opts := []registry.FailoverOption{registry.WithCacheDir(dir), registry.WithFailoverLogger(quietLogger(&logs))}
	seen := memory.New()
	defer seen.Close()
	for _, id := range []string{"a", "b"} {
		if err := seen.Register(ctx, registrytest.NewInstance("orders", id, 7001)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registry.NewFailover(seen, opts...).GetService(ctx, "orders"); err != nil {
		t.Fatal(err)
	}

	// A second process starts while the server is down.
	back := blind{memory.New()}
	defer back.Close()
	w, err := registry.NewFailover(back, opts...).Watch(ctx, "orders")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	registrytest.NewFollow(t, w).Until(5*time.Second, "the cached a and b", registrytest.HasIDs("a", "b"))
	_ = w.Stop()
	// The cache must still hold them for the next process.
	w, err = registry.NewFailover(back, opts...).Watch(ctx, "orders")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	registrytest.NewFollow(t, w).Until(5*time.Second, "the cached a and b, again", registrytest.HasIDs("a", "b"))
}

func TestFailoverHoldsAnEmptyListFromAnUnhealthyBackend(t *testing.T) {
	ctx := context.Background()
	back := &flaky{Registry: memory.New()}
	defer back.Close()
	var logs logBuffer
	f := registry.NewFailover(back, registry.WithFailoverLogger(quietLogger(&logs)))
	a := registrytest.NewInstance("orders", "a", 7001)
	if err := back.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	w, err := f.Watch(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	follow := registrytest.NewFollow(t, w)
	follow.Until(5*time.Second, "a", registrytest.HasIDs("a"))

	// Unhealthy and empty: held. The next healthy list goes through.
	back.down.Store(true)
	asked := back.asked.Load()
	if err := back.Deregister(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The backend must stay down until the Failover has judged the empty list.
	eventually(t, "the Failover asking the backend's health about the empty list", func() bool { return back.asked.Load() > asked })
	back.down.Store(false)
	b := registrytest.NewInstance("orders", "b", 7002)
	if err := back.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Had the empty list been passed on, the follower would see [] before [b]; the
	// Broadcast keeps every list a slow reader has not skipped, so check the order.
	list := follow.Until(5*time.Second, "any change", func([]*registry.Instance) bool { return true })
	if !registrytest.HasIDs("b")(list) {
		t.Fatalf("after an unhealthy empty update, watcher saw %s, want [b]", registrytest.IDs(list))
	}

	// Healthy and empty: a real scale-down, passed on.
	if err := back.Deregister(ctx, b); err != nil {
		t.Fatal(err)
	}
	follow.Until(5*time.Second, "an empty list from a healthy backend", registrytest.HasIDs())
}

func TestFailoverSkipsACorruptCacheFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	back := &flaky{Registry: memory.New()}
	defer back.Close()
	back.down.Store(true)
	var logs logBuffer
	f := registry.NewFailover(back, registry.WithCacheDir(dir), registry.WithFailoverLogger(quietLogger(&logs)))
	if _, err := f.Watch(context.Background(), "orders"); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Watch with a corrupt cache while down = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(logs.String(), "corrupt failover cache") {
		t.Errorf("corrupt cache not logged; logs:\n%s", logs.String())
	}
}

// endingAtOnce is a backend whose watches end right after their first list, as a backend
// whose session keeps breaking would do; it counts the watches.
type endingAtOnce struct {
	*memory.Registry
	watches atomic.Int64
}

func (b *endingAtOnce) Watch(ctx context.Context, s string) (registry.Watcher, error) {
	b.watches.Add(1)
	w, err := b.Registry.Watch(ctx, s)
	if err != nil {
		return nil, err
	}
	return &endAfterFirst{Watcher: w}, nil
}

type endAfterFirst struct {
	registry.Watcher
	nexts int
}

func (w *endAfterFirst) Next() ([]*registry.Instance, error) {
	if w.nexts++; w.nexts > 1 {
		_ = w.Stop()
		return nil, registry.ErrWatcherStopped
	}
	return w.Watcher.Next()
}

func TestFailoverWaitsBeforeReestablishingAWatchTheBackendEndsAtOnce(t *testing.T) {
	back := &endingAtOnce{Registry: memory.New()}
	defer back.Close()
	retry := 20 * time.Millisecond
	f := registry.NewFailover(back, registry.WithRetry(retry, time.Second), registry.WithFailoverLogger(quietLogger(&logBuffer{})))
	start := time.Now()
	w, err := f.Watch(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	n, took := back.watches.Load(), time.Since(start)
	_ = w.Stop()
	// Every watch delivers a list, so the delays start again from the first, which is at
	// least retry/2: one watch per retry/2, and the first one.
	if most := int64(took/(retry/2)) + 1; n > most || n < 2 {
		t.Errorf("the backend was watched %d times in %v; want 2 to %d", n, took, most)
	}
}

func TestFailoverWarnsOnceWhileItCannotReestablishAWatch(t *testing.T) {
	ctx := context.Background()
	back := &flaky{Registry: memory.New()}
	defer back.Close()
	var logs logBuffer
	f := registry.NewFailover(back, registry.WithRetry(5*time.Millisecond, 20*time.Millisecond), registry.WithFailoverLogger(quietLogger(&logs)))
	if err := back.Register(ctx, registrytest.NewInstance("orders", "a", 7001)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetService(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	back.down.Store(true)
	w, err := f.Watch(ctx, "orders")
	if err != nil {
		t.Fatalf("Watch while down with a cached list = %v", err)
	}
	defer w.Stop()
	// Dozens of retries at 5-20 ms.
	time.Sleep(500 * time.Millisecond)
	if n := strings.Count(logs.String(), "registry watch error"); n != 1 {
		t.Errorf("%d warnings about the watch in 500 ms of retries, want 1; logs:\n%s", n, logs.String())
	}
}

// An ability a backend has beyond Registry is found through the failover cache.
func TestFindReachesTheBackendThroughFailover(t *testing.T) {
	type sharer interface{ Share() *memory.Registry }
	back := memory.New()
	defer back.Close()
	f := registry.NewFailover(back)
	if _, ok := registry.Registry(f).(sharer); ok {
		t.Fatal("Failover itself has the backend's ability: the test proves nothing")
	}
	got, ok := registry.Find[sharer](f)
	if !ok || got != sharer(back) {
		t.Fatalf("Find through Failover = %v, %v; want the backend", got, ok)
	}
	if _, ok := registry.Find[interface{ Nope() }](f); ok {
		t.Fatal("Find found an ability nothing in the chain has")
	}
}
