package chaos_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rpc"
)

const (
	service = "chaos"
	// rate and workers shape the steady load: workers callers each calling every
	// workers/rate seconds, so at most workers calls are ever in flight.
	rate    = 500
	workers = 10
	// callTimeout bounds one call of the load; a call that takes longer counts as failed.
	callTimeout = 5 * time.Second
	// providerTTL is the etcd lease TTL of the providers: how long a SIGKILLed one stays
	// listed, and how long a paused etcd must stay paused to expire the leases.
	providerTTL = 3 * time.Second
)

func TestMain(m *testing.M) {
	if id := os.Getenv("CHAOS_PROVIDER_ID"); id != "" {
		if err := runProvider(id); err != nil {
			fmt.Fprintln(os.Stderr, "provider:", err)
			os.Exit(1)
		}
		return
	}
	goleak.VerifyTestMain(m)
}

// runProvider serves an echo provider registered in the registry its environment names,
// until SIGTERM, and then shuts down the way a deployment would stop it.
func runProvider(id string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var reg registry.Registry
	var err error
	switch {
	case os.Getenv("CHAOS_FILE_DIR") != "":
		reg, err = file.New(context.Background(), os.Getenv("CHAOS_FILE_DIR"))
	case os.Getenv("CHAOS_ETCD") != "":
		reg, err = etcd.New(context.Background(), []string{os.Getenv("CHAOS_ETCD")}, etcd.WithTTL(providerTTL))
	default:
		err = fmt.Errorf("no registry in the environment")
	}
	if err != nil {
		return err
	}
	defer reg.Close()
	me := id + "/" + strconv.Itoa(os.Getpid())
	srv := rpc.NewServer(rpc.WithService(service), rpc.WithInstanceID(id), rpc.WithRegistrar(reg))
	testpb.RegisterEchoServer(srv, echo{me: me})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	return srv.Serve(lis)
}

// echo answers with "<id>/<pid>", so that a test can tell a restarted provider from the old.
type echo struct {
	testpb.UnimplementedEchoServer
	me string
}

func (e echo) Echo(_ context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	return &testpb.EchoReply{Payload: req.Payload, ServedBy: e.me}, nil
}

// cluster is three provider processes and one consumer in the test process.
type cluster struct {
	env       []string // names the registry for the providers
	ids       []string
	providers map[string]*testenv.Process
	disc      registry.Discovery
	client    testpb.EchoClient
}

func newCluster(t *testing.T, env []string, disc registry.Discovery) *cluster {
	t.Helper()
	c := &cluster{env: env, ids: []string{"a", "b", "c"}, providers: map[string]*testenv.Process{}, disc: disc}
	for _, id := range c.ids {
		c.providers[id] = testenv.StartProcess(t, "provider "+id, t.TempDir(), append([]string{"CHAOS_PROVIDER_ID=" + id}, env...), os.Args[0], "-test.run=^$")
	}
	conn, err := rpc.Dial(context.Background(), "tianshu:///"+service, rpc.WithDiscovery(disc), rpc.WithDialLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c.client = testpb.NewEchoClient(conn)
	return c
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// current returns "<id>/<pid>" of every running provider.
func (c *cluster) current() []string {
	out := make([]string, 0, len(c.ids))
	for _, id := range c.ids {
		out = append(out, id+"/"+strconv.Itoa(c.providers[id].Pid()))
	}
	return out
}

// waitHealthy waits until the registry lists all three providers and calls reach each of
// the running processes, and returns how long that took; it fails the test after bound.
func (c *cluster) waitHealthy(t *testing.T, bound time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(bound)
	want := c.current()
	seen := map[string]bool{}
	var listed []*registry.Instance
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		listed, lastErr = c.disc.GetService(ctx, service)
		cancel()
		if len(listed) == len(c.ids) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r, err := c.client.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
			cancel()
			if err == nil {
				seen[r.ServedBy] = true
			}
			if all(seen, want) {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not back to full health within %v: registry lists %d instances (%v), calls reached %v of %v", what, bound, len(listed), lastErr, keys(seen), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func all(seen map[string]bool, want []string) bool {
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// load drives steady traffic through the consumer and records every failure.
type load struct {
	client testpb.EchoClient
	start  time.Time
	stop   chan struct{}
	wg     sync.WaitGroup
	calls  atomic.Int64
	served atomic.Int64 // calls that succeeded

	mu       sync.Mutex
	failures []failure
}

type failure struct {
	at  time.Time
	err string
}

// startLoad starts rate calls per second through client; Stop ends them.
func startLoad(t *testing.T, client testpb.EchoClient) *load {
	l := &load{client: client, start: time.Now(), stop: make(chan struct{})}
	every := time.Duration(workers) * time.Second / rate
	for w := range workers {
		l.wg.Go(func() {
			// Spread the workers over the period so the calls arrive evenly.
			time.Sleep(every * time.Duration(w) / workers)
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				l.one()
			}
		})
	}
	t.Cleanup(l.Stop)
	return l
}

func (l *load) one() {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	l.calls.Add(1)
	if _, err := l.client.Echo(ctx, &testpb.EchoRequest{}); err != nil {
		l.mu.Lock()
		l.failures = append(l.failures, failure{time.Now(), err.Error()})
		l.mu.Unlock()
		return
	}
	l.served.Add(1)
}

// minServed is the fewest successful calls that a stretch of d under load must hold: a
// quarter of what the load's rate makes in d. That leaves room for a loaded machine, and
// fails callers that stalled for most of it, which "no call failed" alone lets through.
func minServed(d time.Duration) int64 { return int64(d.Seconds() * rate / 4) }

// Stop ends the load and waits for the calls in flight; it may be called twice.
func (l *load) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// failed returns the failures so far.
func (l *load) failed() []failure {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]failure(nil), l.failures...)
}

// summary describes failures for messages: how many, when relative to t0, the first errors.
func summary(fs []failure, t0 time.Time) string {
	if len(fs) == 0 {
		return "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d, from %v to %v after the fault; first: ", len(fs), fs[0].at.Sub(t0).Round(time.Millisecond), fs[len(fs)-1].at.Sub(t0).Round(time.Millisecond))
	for i, f := range fs[:min(3, len(fs))] {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(f.err)
	}
	return b.String()
}

// sustain keeps the load running until it has lasted at least d in all.
func (l *load) sustain(d time.Duration) {
	if rest := d - time.Since(l.start); rest > 0 {
		time.Sleep(rest)
	}
}

// rollingRestart restarts each provider in turn (SIGTERM, wait for it to exit, start it
// again) under steady load for at least total, waiting after each restart until the new
// process serves calls. It fails on any failed call.
func rollingRestart(t *testing.T, c *cluster, backend string, total time.Duration) {
	c.waitHealthy(t, 30*time.Second, "before the rolling restart")
	l := startLoad(t, c.client)
	var slowest time.Duration
	for _, id := range c.ids {
		start := time.Now()
		c.providers[id].Restart(t, false)
		c.waitHealthy(t, 30*time.Second, "after restarting "+id)
		slowest = max(slowest, time.Since(start))
	}
	l.sustain(total)
	l.Stop()
	fs := l.failed()
	lasted := time.Since(l.start)
	t.Logf("RESULT rolling-restart backend=%s calls=%d duration=%v failed=%d slowest-restart-to-served=%v",
		backend, l.calls.Load(), lasted.Round(100*time.Millisecond), len(fs), slowest.Round(time.Millisecond))
	if len(fs) != 0 {
		t.Fatalf("rolling restart (%s): %d of %d calls failed: %s", backend, len(fs), l.calls.Load(), summary(fs, l.start))
	}
	if n, want := l.served.Load(), minServed(lasted); n < want {
		t.Fatalf("rolling restart (%s): %d calls succeeded in %v, want at least %d (a quarter of %d/s): the callers stalled", backend, n, lasted.Round(time.Millisecond), want, rate)
	}
}

// Bounds of the SIGKILL scenario.
const (
	// killFailBound: at most the calls in flight on the killed process can fail, plus those
	// picked for it before the balancer saw the connection drop.
	killFailBound = 5 * workers
	// killQuietAfter: failures must stop this long after the kill.
	killQuietAfter = 2 * time.Second
)

// providerKill SIGKILLs provider a under load, bounds the failed calls and the time they
// last, waits for the registry to drop it (dropBound), restarts it and waits for full health.
func providerKill(t *testing.T, c *cluster, backend string, dropBound time.Duration) {
	c.waitHealthy(t, 30*time.Second, "before the SIGKILL")
	l := startLoad(t, c.client)
	time.Sleep(time.Second)
	killed := time.Now()
	c.providers["a"].Kill()
	dropped := waitListed(t, c.disc, 2, dropBound, "the registry to drop the SIGKILLed provider")
	time.Sleep(max(0, killQuietAfter+time.Second-time.Since(killed))) // a quiet second after the bound
	fs := l.failed()
	c.providers["a"].Restart(t, true)
	healthy := c.waitHealthy(t, 30*time.Second, "after restarting the SIGKILLed provider")
	l.Stop()
	after := l.failed()
	last := time.Duration(0)
	if len(fs) > 0 {
		last = fs[len(fs)-1].at.Sub(killed)
	}
	t.Logf("RESULT provider-sigkill backend=%s calls=%d failed=%d failures-ended-after=%v registry-dropped-after=%v restarted-to-healthy=%v",
		backend, l.calls.Load(), len(after), last.Round(time.Millisecond), dropped.Round(time.Millisecond), healthy.Round(time.Millisecond))
	if len(after) > 0 {
		t.Logf("failed calls: %s", summary(after, killed))
	}
	switch {
	case len(fs) > killFailBound:
		t.Fatalf("SIGKILL (%s): %d calls failed, bound %d: %s", backend, len(fs), killFailBound, summary(fs, killed))
	case last > killQuietAfter:
		t.Fatalf("SIGKILL (%s): calls still failed %v after the kill, bound %v: %s", backend, last, killQuietAfter, summary(fs, killed))
	case len(after) != len(fs):
		t.Fatalf("SIGKILL (%s): %d calls failed after the failures had stopped: %s", backend, len(after)-len(fs), summary(after[len(fs):], killed))
	}
}

// waitListed waits until the registry lists n instances and returns how long that took.
func waitListed(t *testing.T, d registry.Discovery, n int, bound time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		list, err := d.GetService(ctx, service)
		cancel()
		if err == nil && len(list) == n {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			t.Fatalf("waited %v for %s; the registry lists %d instances (%v)", bound, what, len(list), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
