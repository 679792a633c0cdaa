package rpc_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
)

// The tests in this file run the whole path an operator's change takes: a rules document
// written to a config source (a file, an etcd key), rules.Watch following it in the
// consumer, and the balancer of an rpc.Dial connection applying it to the calls that follow,
// over the connections it already has.

// rulesDoc is a rules document for the echo service with the instance entries given, each
// a YAML flow mapping such as "{id: a, weight: 6}".
func rulesDoc(instances ...string) string {
	if len(instances) == 0 {
		return "rules: {}\n"
	}
	return "rules:\n  services:\n    echo:\n      instances:\n        - " + strings.Join(instances, "\n        - ") + "\n"
}

// weights631 gives a, b and c the weights 6, 3 and 1.
var weights631 = rulesDoc("{id: a, weight: 6}", "{id: b, weight: 3}", "{id: c, weight: 1}")

// writeRules replaces the file at path with data in one rename, as an editor or a config
// agent does, so that the watcher never reads half a document.
func writeRules(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// ruleErrs collects what rules.Watch reports through WithErrorHandler.
type ruleErrs struct {
	mu  sync.Mutex
	got []error
}

func (e *ruleErrs) add(err error) { e.mu.Lock(); e.got = append(e.got, err); e.mu.Unlock() }

func (e *ruleErrs) list() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.got...)
}

// watchRules follows src in a Store closed when the test ends.
func watchRules(t testing.TB, src config.Source, opts ...rules.WatchOption) *rules.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := rules.Watch(ctx, []config.Source{src}, append([]rules.WatchOption{rules.WithLogger(discardLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("rules.Watch(%s): %v", src, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// watchRulesFile writes data to a new rules file and follows it.
func watchRulesFile(t testing.TB, data string, opts ...rules.WatchOption) (*rules.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, path, data)
	return watchRules(t, file.New(path), opts...), path
}

// threeProviders starts echo providers a, b and c and a round-robin connection to them
// applying st, and returns it once all three serve, with the providers' connection counts.
func threeProviders(t *testing.T, st *rules.Store) (testpb.EchoClient, map[string]*atomic.Int64) {
	t.Helper()
	reg := newRegistry(t)
	acc := map[string]*atomic.Int64{}
	for _, id := range []string{"a", "b", "c"} {
		acc[id], _ = ruledProvider(t, reg, id, 0)
	}
	c := dialRules(t, reg, st, loadbalance.RoundRobin)
	callUntil(t, c, "a, b and c", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 && s["c"] > 0 })
	return c, acc
}

// untilShares makes batches of 100 calls until one splits as ok wants, for up to 10 s: the
// written rules have reached the balancer.
func untilShares(t *testing.T, c testpb.EchoClient, what string, ok func(seen map[string]int) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := served(t, context.Background(), c, 100)
		if ok(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: never saw %s; the last 100 calls went %v", what, s)
		}
	}
}

// about631 tells a batch split 6/3/1 (round robin over weights 6, 3, 1 gives 60/30/10 in
// every 100 calls, give or take the batch's edges).
func about631(s map[string]int) bool {
	return s["a"] >= 55 && s["a"] <= 65 && s["b"] >= 25 && s["b"] <= 35 && s["c"] >= 5 && s["c"] <= 15
}

// checkOneConnection fails unless every provider accepted exactly one connection: the rules
// changes did not make the consumer reconnect.
func checkOneConnection(t *testing.T, acc map[string]*atomic.Int64) {
	t.Helper()
	for id, n := range acc {
		if n.Load() != 1 {
			t.Errorf("provider %s accepted %d connections, want 1: a rules change reconnected", id, n.Load())
		}
	}
}

// drainWhileCalling has four callers call c while write takes instance "c" out of traffic.
// Once a run of calls has missed c, every call that starts afterwards must miss it too;
// no call may fail throughout.
func drainWhileCalling(t *testing.T, c testpb.EchoClient, write func()) {
	t.Helper()
	var drained atomic.Bool
	var calls, failed, late, sinceC atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := drained.Load()
				r, err := c.Echo(context.Background(), &testpb.EchoRequest{})
				calls.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
				case r.ServedBy == "c":
					sinceC.Store(0)
					if after {
						late.Add(1)
					}
				default:
					sinceC.Add(1)
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	before := calls.Load()
	write()
	// c had a share of a third; 300 calls in a row elsewhere happen by chance with
	// probability (2/3)^300 under round robin's spread, that is never.
	deadline := time.Now().Add(10 * time.Second)
	for sinceC.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	drained.Store(sinceC.Load() >= 300)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !drained.Load() {
		t.Fatalf("10s after the write, calls still reached c")
	}
	if failed.Load() != 0 || late.Load() != 0 {
		t.Fatalf("of %d calls, %d failed and %d reached c after it was drained; want 0 and 0",
			calls.Load(), failed.Load(), late.Load())
	}
	t.Logf("%d calls (%d after the write), none failed, none reached c once drained", calls.Load(), calls.Load()-before)
}

func TestRulesFromAFileReachTheBalancer(t *testing.T) {
	var reported ruleErrs
	st, path := watchRulesFile(t, rulesDoc(), rules.WithErrorHandler(reported.add))
	c, acc := threeProviders(t, st)
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3})

	// Weights.
	writeRules(t, path, weights631)
	untilShares(t, c, "the 6/3/1 split", about631)
	want := map[string]float64{"a": 0.6, "b": 0.3, "c": 0.1}
	checkShares(t, served(t, context.Background(), c, 2000), want)

	// A document that does not parse, then the same mistake again (other bytes, the same
	// error): the 6/3/1 rules stay, and the error is reported once.
	writeRules(t, path, "rules:\n  services:\n    echo: [unclosed\n")
	deadline := time.Now().Add(10 * time.Second)
	for len(reported.list()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	checkShares(t, served(t, context.Background(), c, 2000), want)
	writeRules(t, path, "rules:\n  services:\n    echo: [unclosee\n")
	time.Sleep(200 * time.Millisecond) // 10 of the file watcher's debounce intervals
	checkShares(t, served(t, context.Background(), c, 2000), want)
	if got := reported.list(); len(got) != 1 {
		t.Fatalf("the malformed document was reported %d times, want once: %v", len(got), got)
	} else {
		t.Logf("reported: %v", got[0])
	}

	// Draining c while calls run.
	drainWhileCalling(t, c, func() {
		writeRules(t, path, rulesDoc("{id: a, weight: 6}", "{id: b, weight: 3}", "{id: c, out: true}"))
	})
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 2.0 / 3, "b": 1.0 / 3, "c": 0})
	checkOneConnection(t, acc)
	if got := reported.list(); len(got) != 1 {
		t.Errorf("%d errors reported in all, want the one: %v", len(got), got)
	}
}

// etcdRulesKey is where the etcd tests keep the rules document.
const etcdRulesKey = "/config/echo/rules.yaml"

// etcdClient returns a client of the etcd at endpoint, closed when the test ends.
func etcdClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New(%s): %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// putRules writes the rules document to etcd as an operator's tool does.
func putRules(t testing.TB, cli *clientv3.Client, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcdRulesKey, data); err != nil {
		t.Fatalf("put %s: %v", etcdRulesKey, err)
	}
}

// watchRulesEtcd follows the rules key through a client of its own, as a consumer process
// does, retrying a lost etcd every 50 to 500 ms.
func watchRulesEtcd(t testing.TB, endpoint string, opts ...rules.WatchOption) *rules.Store {
	t.Helper()
	src, err := etcdconfig.New(etcdClient(t, endpoint), etcdRulesKey,
		etcdconfig.WithRetry(50*time.Millisecond, 500*time.Millisecond), etcdconfig.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	return watchRules(t, src, opts...)
}

func TestRulesFromEtcdReachTheBalancerAndOutliveEtcd(t *testing.T) {
	srv := testenv.StartEtcd(t)
	admin := etcdClient(t, srv.Endpoint)
	putRules(t, admin, rulesDoc())
	st := watchRulesEtcd(t, srv.Endpoint)
	c, acc := threeProviders(t, st)

	putRules(t, admin, weights631)
	untilShares(t, c, "the 6/3/1 split", about631)
	want := map[string]float64{"a": 0.6, "b": 0.3, "c": 0.1}
	checkShares(t, served(t, context.Background(), c, 2000), want)

	// The config center goes away: the consumer keeps the last good rules and keeps
	// serving, every call succeeding.
	good := st.Load()
	srv.Stop()
	// The etcd client keeps retrying the watch stream on its own and the source sees no
	// error in this time; what matters is that nothing the consumer holds changes.
	time.Sleep(2 * time.Second)
	checkShares(t, served(t, context.Background(), c, 2000), want)
	if st.Load() != good {
		t.Fatal("the rules in force changed while etcd was down")
	}

	// Back, it delivers the next change.
	srv.Start(t)
	putRules(t, admin, rulesDoc("{id: c, weight: 200}")) // a and b keep the 100 they announce
	untilShares(t, c, "the 1/1/2 split", func(s map[string]int) bool { return s["c"] >= 45 && s["c"] <= 55 })
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 0.25, "b": 0.25, "c": 0.5})
	checkOneConnection(t, acc)
}

// canaryDoc sends the calls tagged "bench" to version v2 (instance "canary"), which is out
// of traffic when out is true: the route then has no destination and its calls go to the
// others.
func canaryDoc(out bool) string {
	return fmt.Sprintf(`rules:
  services:
    echo:
      instances:
        - {id: canary, out: %t}
      routes:
        - match: {tag: bench}
          to: [{version: v2, weight: 1}]
`, out)
}

// BenchmarkRuleWrittenToBalancer measures a rules change from the write to the config
// source until the first call that follows it at the balancer of an rpc.Dial connection:
// each iteration writes the canary out of traffic (or back in) and calls, tagged for its
// route, until a call is served as the new rules say. The figure includes the watcher's
// notification, decoding and validation, the balancer's new picker, and one loopback call
// (the resolution). Reports p50 and p99:
//
//	go test -run '^$' -bench RuleWrittenToBalancer -benchtime=30x -count=3 ./rpc/
func BenchmarkRuleWrittenToBalancer(b *testing.B) {
	b.Run("file", func(b *testing.B) {
		st, path := watchRulesFile(b, canaryDoc(false))
		measureAtBalancer(b, st, func(data string) { writeRules(b, path, data) })
	})
	b.Run("etcd", func(b *testing.B) {
		srv := testenv.StartEtcd(b)
		admin := etcdClient(b, srv.Endpoint)
		putRules(b, admin, canaryDoc(false))
		st := watchRulesEtcd(b, srv.Endpoint)
		measureAtBalancer(b, st, func(data string) { putRules(b, admin, data) })
	})
}

func measureAtBalancer(b *testing.B, st *rules.Store, write func(data string)) {
	reg := newRegistry(b)
	for _, p := range []struct{ id, version string }{{"stable", "v1"}, {"canary", "v2"}} {
		srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID(p.id), rpc.WithVersion(p.version),
			rpc.WithRegistrar(reg), rpc.WithServerLogger(discardLogger()))
		testpb.RegisterEchoServer(srv, echo{id: p.id})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = srv.Serve(lis) }()
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithRules(st),
		rpc.WithoutClientTelemetry(), rpc.WithDialLogger(discardLogger()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	c := testpb.NewEchoClient(conn)
	ctx := loadbalance.WithTag(context.Background(), "bench")
	// servedBy calls until a call is served by want, for up to 10 s.
	servedBy := func(want string) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err := c.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
			if err == nil && r.ServedBy == want {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("after 10s no call served by %s (last: %v, %v)", want, r, err)
			}
		}
	}
	servedBy("canary") // both connected, the route in force
	var lat []time.Duration
	out := false
	for b.Loop() {
		out = !out
		want := "canary"
		if out {
			want = "stable"
		}
		start := time.Now()
		write(canaryDoc(out))
		servedBy(want)
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

// reportLatencies reports the p50 and p99 of lat in milliseconds in place of ns/op.
func reportLatencies(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
