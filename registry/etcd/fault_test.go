package etcd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// The TTL of the fault tests' providers; the bound is one TTL + 1 s.
const faultTTL = 3 * time.Second

// rawClient returns a plain etcd client on endpoint, acting as an operator or another
// process; it is closed when the test ends.
func rawClient(t testing.TB, endpoint string, cfg ...func(*clientv3.Config)) *clientv3.Client {
	t.Helper()
	c := clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	for _, f := range cfg {
		f(&c)
	}
	cli, err := clientv3.New(c)
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func leaseOf(t *testing.T, cli *clientv3.Client, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(ctxFor(t), key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("Get %s = %v, %v; want one key", key, resp, err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

func TestFaults(t *testing.T) {
	srv := testenv.StartEtcd(t)
	tests := []struct {
		name string
		run  func(t *testing.T, srv *testenv.Etcd)
	}{
		{"RevokedLeaseIsReplacedAndTheInstanceListedAgainWithinOneTTL", revokedLease},
		{"ServerPausedPastTheTTLGetsTheInstanceBackWithinOneTTL", pausedPastTTL},
		{"ServerRestartKeepsTheInstanceListedAndConsumersSeeLaterUpdates", serverRestart},
		{"CompactionWhileTheConsumerIsCutOffEndsInTheFullList", compactedWhileCutOff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, srv) })
	}
}

func revokedLease(t *testing.T, srv *testenv.Etcd) {
	prov := open(t, srv, etcd.WithTTL(faultTTL))
	cons := open(t, srv)
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(10*time.Second, "a", registrytest.HasIDs("a"))

	admin := rawClient(t, srv.Endpoint)
	key := prov.Key(svc, "a")
	old := leaseOf(t, admin, key)
	if _, err := admin.Revoke(ctxFor(t), old); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	f.Until(10*time.Second, "a gone with its revoked lease", registrytest.HasIDs())
	f.Until(faultTTL+time.Second, "a listed again", registrytest.HasIDs("a"))
	if now := leaseOf(t, admin, key); now == old {
		t.Errorf("instance is still under the revoked lease %x", old)
	}
}

func pausedPastTTL(t *testing.T, srv *testenv.Etcd) {
	prov := open(t, srv, etcd.WithTTL(faultTTL))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	old := leaseOf(t, rawClient(t, srv.Endpoint), prov.Key(svc, "a"))
	srv.Pause()
	time.Sleep(faultTTL + time.Second) // the outage under test: longer than the TTL
	srv.Resume()
	// The server expires the old lease on resuming; the provider must put the instance back.
	cons := open(t, srv)
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	deadline := time.Now().Add(faultTTL + time.Second)
	f.Until(faultTTL+time.Second, "a", registrytest.HasIDs("a"))
	// Whether or not the first list already had it, it must still be there after the old
	// lease's expiry has been processed.
	time.Sleep(time.Until(deadline))
	list, err := cons.GetService(ctxFor(t), svc)
	if err != nil || !registrytest.HasIDs("a")(list) {
		t.Fatalf("after the pause, GetService = %s, %v; want [a]", registrytest.IDs(list), err)
	}
	if now := leaseOf(t, rawClient(t, srv.Endpoint), prov.Key(svc, "a")); now == old {
		t.Errorf("instance is still under lease %x, which went unanswered for longer than its TTL", old)
	}
}

func serverRestart(t *testing.T, srv *testenv.Etcd) {
	prov := open(t, srv, etcd.WithTTL(faultTTL))
	cons := open(t, srv)
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(10*time.Second, "a", registrytest.HasIDs("a"))

	srv.Restart(t, true)
	list := retryGet(t, cons, svc, faultTTL+time.Second, registrytest.HasIDs("a"))
	if !registrytest.HasIDs("a")(list) {
		t.Fatalf("after the restart, GetService = %s; want [a]", registrytest.IDs(list))
	}
	other := open(t, srv)
	for i := range 3 {
		in := registrytest.NewInstance(svc, fmt.Sprintf("later-%d", i), 7100+i)
		if err := other.Register(ctxFor(t), in); err != nil {
			t.Fatalf("Register after restart: %v", err)
		}
	}
	f.Until(10*time.Second, "a and the later instances", registrytest.HasIDs("a", "later-0", "later-1", "later-2"))
}

// retryGet calls GetService until ok holds or timeout passes, as the client reconnects.
func retryGet(t *testing.T, r *etcd.Registry, svc string, timeout time.Duration, ok func([]*registry.Instance) bool) []*registry.Instance {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		list, err := r.GetService(ctx, svc)
		cancel()
		if err == nil && ok(list) || time.Now().After(deadline) {
			return list
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func compactedWhileCutOff(t *testing.T, srv *testenv.Etcd) {
	prov := open(t, srv)
	px := newProxy(t, srv.Addr)
	cons, log := openWithLog(t, &testenv.Etcd{Endpoint: "http://" + px.addr})
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatalf("Register: %v", err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(10*time.Second, "a", registrytest.HasIDs("a"))

	px.cut()
	eventually(t, "the consumer to report itself unhealthy", func() bool { return !cons.Healthy() })
	for _, id := range []string{"b", "c"} {
		if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, id, 7002)); err != nil {
			t.Fatalf("Register %s: %v", id, err)
		}
	}
	if err := prov.Deregister(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	admin := rawClient(t, srv.Endpoint)
	resp, err := admin.Get(ctxFor(t), "any")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Compact(ctxFor(t), resp.Header.Revision); err != nil {
		t.Fatalf("Compact: %v", err)
	}

	px.restore()
	f.Until(20*time.Second, "the full list after compaction", registrytest.HasIDs("b", "c"))
	eventually(t, "the consumer to report itself healthy", cons.Healthy)
	if !strings.Contains(log.String(), "compacted") {
		t.Errorf("the consumer recovered without noticing the compaction; its log:\n%s", log.String())
	}
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "d", 7004)); err != nil {
		t.Fatalf("Register d: %v", err)
	}
	f.Until(10*time.Second, "updates after the re-list", registrytest.HasIDs("b", "c", "d"))
}

// eventually polls cond until it holds or a generous bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestALazyConsumerStartsFromTheFailoverCacheWhileEtcdIsDown(t *testing.T) {
	srv := testenv.StartEtcd(t)
	ctx := ctxFor(t)
	svc := registrytest.ServiceName(t)
	cacheDir := t.TempDir()

	prov, err := etcd.New(ctx, []string{srv.Endpoint}, etcd.WithTTL(faultTTL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prov.Close() })
	if err := prov.Register(ctx, registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	// A first consumer sees a: the failover cache on disk now holds it.
	first, err := etcd.New(ctx, []string{srv.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := registry.NewFailover(first, registry.WithCacheDir(cacheDir)).GetService(ctx, svc); err != nil || len(list) != 1 {
		t.Fatalf("GetService = %v, %v", list, err)
	}
	_ = first.Close()

	srv.Stop()
	// With or without WithLazyConnect, a consumer starts and serves the cached list.
	for _, opts := range [][]etcd.Option{{etcd.WithLazyConnect()}, nil} {
		r, err := etcd.New(ctx, []string{srv.Endpoint}, append(opts, etcd.WithDialTimeout(500*time.Millisecond))...)
		if err != nil {
			t.Fatalf("New (%d options) while etcd is down: %v", len(opts), err)
		}
		t.Cleanup(func() { _ = r.Close() })
		followCache(t, r, cacheDir, svc)
	}
	lazy, err := etcd.New(ctx, []string{srv.Endpoint}, etcd.WithLazyConnect(), etcd.WithDialTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatalf("New with WithLazyConnect while etcd is down: %v", err)
	}
	t.Cleanup(func() { _ = lazy.Close() })
	fo := registry.NewFailover(lazy, registry.WithCacheDir(cacheDir), registry.WithRetry(50*time.Millisecond, time.Second))
	w, err := fo.Watch(ctx, svc)
	if err != nil {
		t.Fatalf("Watch while etcd is down, with a cache: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(5*time.Second, "a, from the disk cache", registrytest.HasIDs("a"))

	// etcd comes back: the lazy consumer connects and follows later changes.
	srv.Restart(t, false)
	back := time.Now()
	defer func() { t.Logf("recovered %v after etcd came back", time.Since(back).Round(time.Millisecond)) }()
	if err := retryRegister(prov, registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatal(err)
	}
	f.Until(30*time.Second, "a and b once etcd is back", registrytest.HasIDs("a", "b"))
}

// followCache watches svc through a Failover over r with cacheDir, and waits for the one
// instance, a, the cache holds.
func followCache(t *testing.T, r registry.Registry, cacheDir, svc string) {
	t.Helper()
	fo := registry.NewFailover(r, registry.WithCacheDir(cacheDir))
	w, err := fo.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch while etcd is down, with a cache: %v", err)
	}
	defer w.Stop()
	registrytest.NewFollow(t, w).Until(5*time.Second, "a, from the disk cache", registrytest.HasIDs("a"))
}

// retryRegister registers in while the provider's client reconnects.
func retryRegister(r registry.Registrar, in *registry.Instance) error {
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = r.Register(ctx, in)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("register %s after the restart: %w", in.ID, err)
}

func TestAConsumerPublishesNoShrinkWhenAStallExpiresEveryLease(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses a server for several seconds")
	}
	srv := testenv.StartEtcd(t)
	svc := registrytest.ServiceName(t)
	provs := map[string]*etcd.Registry{}
	for i, id := range []string{"a", "b", "c"} {
		provs[id] = open(t, srv, etcd.WithTTL(faultTTL))
		if err := provs[id].Register(ctxFor(t), registrytest.NewInstance(svc, id, 7001+i)); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer's hold after a stall is its TTL (fast: 2 s), longer than its retry
	// delay's maximum (0.5 s).
	const hold = 2 * time.Second
	cons := open(t, srv)
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	rec := registrytest.Record(t, w)
	last := rec.Last
	eventuallyTrue(t, 10*time.Second, "a, b and c listed", func() bool { return registrytest.HasIDs("a", "b", "c")(last()) })
	before := rec.Count()

	srv.Pause()
	// c's process ends during the stall: its lease expires with the others' and it does
	// not come back (its Close cannot revoke the lease before the server answers again).
	closed := make(chan struct{})
	go func() { _ = provs["c"].Close(); close(closed) }()
	time.Sleep(faultTTL + time.Second) // longer than every provider's TTL
	resumed := time.Now()
	srv.Resume()
	<-closed

	eventuallyTrue(t, faultTTL+hold+10*time.Second, "c dropped after the hold", func() bool { return registrytest.HasIDs("a", "b")(last()) })
	got, at := rec.Since(before)
	var seen []string
	for _, l := range got {
		seen = append(seen, registrytest.IDs(l))
	}
	for i, l := range got[:len(got)-1] {
		if !registrytest.HasIDs("a", "b", "c")(l) {
			t.Fatalf("after the stall the consumer published %s (list %d of %v), want a, b and c until the hold ends", registrytest.IDs(l), i, seen)
		}
	}
	if d := at[len(at)-1].Sub(resumed); d < hold {
		t.Fatalf("c dropped %v after the server resumed, want no earlier than the hold %v", d, hold)
	}
	t.Logf("lists after the stall: %v; c dropped %v after the server resumed", seen, at[len(at)-1].Sub(resumed).Round(time.Millisecond))

	// Once the hold is over, a removal shows at once.
	if err := provs["b"].Deregister(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, 10*time.Second, "b deregistered", func() bool { return registrytest.HasIDs("a")(last()) })
}

func eventuallyTrue(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, within)
		}
	}
}
