package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/internal/testenv"
)

// secondTierEnv, set to 1, runs the tests of the second tier (as registry/eureka names
// it): here the 10-minute soak, not run in CI.
const secondTierEnv = "TIANSHU_SECOND_TIER"

// The soak's load, from issue #28: routes change 1,000 times a minute while 64 keep-alive
// HTTP clients, 10 WebSocket connections and 10 gRPC streams carry traffic.
const (
	soakInterval = time.Minute / 1000
	soakClients  = 64
	soakWS       = 10
	soakStreams  = 10
	soakDrain    = time.Second
	// soakLive is the bound on one change's write-to-live: generous (the benchmarks
	// measure it; the target is 100 ms p99).
	soakLive = time.Second
)

// soakLength is how long each source is soaked: 60 s in CI's tier, 10 minutes in the
// second (TIANSHU_SECOND_TIER=1; give -timeout 30m). GW_SOAK (a duration) overrides both,
// to try a change quickly.
func soakLength() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GW_SOAK")); err == nil && d > 0 {
		return d
	}
	if os.Getenv(secondTierEnv) == "1" {
		return 10 * time.Minute
	}
	return time.Minute
}

// soakUpstreams are the soak's servers.
type soakUpstreams struct {
	a, b     *echo
	ws       string
	grpcPort int
}

// doc is change i: reloadDoc's routes (stable, marker rewritten to /m/<i>, change-<i>),
// plus the routes of the WebSocket connections and the gRPC streams unless streams is
// false. The stream routes have no timeout: a route's timeout bounds a stream's life.
func (u *soakUpstreams) doc(i int, streams bool) string {
	d := reloadDoc(u.a.srv.URL, u.b.srv.URL, i)
	if streams {
		d += fmt.Sprintf("    - {name: ws, match: {path: {prefix: /ws}}, target: {urls: [%q]}}\n", u.ws)
		d += fmt.Sprintf("    - {name: grpc-stream, match: {path: {prefix: /tianshu.test.Stream}}, target: {urls: [\"http://127.0.0.1:%d\"], protocol: grpc}}\n", u.grpcPort)
	}
	return d
}

// TestSoak is issue #28's zero-downtime soak, once with the routes in a file and once in
// etcd: while the routes change 1,000 times a minute, 64 keep-alive HTTP clients, 10
// WebSocket connections and 10 gRPC streams (each exchanging messages with an echo
// upstream the whole time) see no failed request and no dropped connection, every change
// is live within 1 s, and the goroutines and the heap do not grow with the changes. At
// the end the routes of the WebSocket connections and gRPC streams are removed: each is
// closed after the drain time.
func TestSoak(t *testing.T) {
	length := soakLength()
	if dl, ok := t.Deadline(); ok && time.Until(dl) < 2*length+time.Minute {
		t.Fatalf("the soak runs %v for each of two sources: give go test -timeout %v or more", length, 2*length+2*time.Minute)
	}
	t.Run("file", func(t *testing.T) {
		up := startSoakUpstreams(t)
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		write := func(i int, streams bool) { writeFile(t, path, up.doc(i, streams)) }
		write(0, true)
		soak(t, length, up, file.New(path, file.WithDebounce(time.Millisecond)), write)
	})
	t.Run("etcd", func(t *testing.T) {
		srv := testenv.StartEtcd(t)
		admin := etcdClient(t, srv.Endpoint)
		up := startSoakUpstreams(t)
		write := func(i int, streams bool) { etcdPut(t, admin, up.doc(i, streams)) }
		write(0, true)
		src, err := etcdconfig.New(etcdClient(t, srv.Endpoint), etcdKey, etcdconfig.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		soak(t, length, up, src, write)
	})
}

func startSoakUpstreams(t *testing.T) *soakUpstreams {
	return &soakUpstreams{a: startEcho(t, "a"), b: startEcho(t, "b"), ws: startWSEcho(t), grpcPort: startGRPCStream(t)}
}

// streamLoad keeps WebSocket connections and gRPC streams exchanging messages.
type streamLoad struct {
	ws       []*wsConn
	streams  []*echoStream
	wsMsgs   atomic.Int64
	grpcMsgs atomic.Int64
	errs     chan error // the first error of each connection or stream
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startStreamLoad(t *testing.T, base string) *streamLoad {
	l := &streamLoad{errs: make(chan error, soakWS+soakStreams), stop: make(chan struct{})}
	conn := grpcConn(t, base)
	for i := range soakWS {
		c, err := wsDial(base, "/ws")
		if err != nil {
			t.Fatalf("WebSocket connection %d: %v", i, err)
		}
		l.ws = append(l.ws, c)
	}
	for i := range soakStreams {
		s, err := openStream(conn)
		if err != nil {
			t.Fatalf("gRPC stream %d: %v", i, err)
		}
		l.streams = append(l.streams, s)
	}
	for i, c := range l.ws {
		l.run(func(n int) error { return c.echo(fmt.Appendf(nil, "ws %d message %d", i, n), 10*time.Second) }, &l.wsMsgs)
	}
	for i, s := range l.streams {
		l.run(func(n int) error { return s.echo(fmt.Appendf(nil, "stream %d message %d", i, n)) }, &l.grpcMsgs)
	}
	return l
}

// run calls echo with 0, 1, 2, ... until stop or its first error.
func (l *streamLoad) run(echo func(int) error, count *atomic.Int64) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for n := 0; ; n++ {
			select {
			case <-l.stop:
				return
			default:
			}
			if err := echo(n); err != nil {
				l.errs <- err
				return
			}
			count.Add(1)
		}
	}()
}

// halt stops the exchanges, leaving the connections and streams open; it reports false if
// some did not stop within timeout (a stream stuck without an error).
func (l *streamLoad) halt(timeout time.Duration) bool {
	close(l.stop)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		for _, s := range l.streams {
			s.cancel()
		}
		for _, c := range l.ws {
			_ = c.c.Close()
		}
		<-done
		return false
	}
}

// heapAndGoroutines measures after a collection.
func heapAndGoroutines() (heap uint64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

func soak(t *testing.T, length time.Duration, up *soakUpstreams, src config.Source, write func(i int, streams bool)) {
	var reported errorLog
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(soakDrain), gateway.WithErrorHandler(reported.add), gateway.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Watch(ctx, []config.Source{src}); err != nil {
		t.Fatal(err)
	}
	base, closed := startGatewayCounting(t, g)
	probe := probeClient(t)

	load := startStreamLoad(t, base)
	h := startHammer(base, soakClients)
	waitFor(t, "every client and stream has exchanged messages", func() bool {
		return h.ok.Load() >= 4*soakClients && load.wsMsgs.Load() >= 4*soakWS && load.grpcMsgs.Load() >= 4*soakStreams
	})
	heap0, gr0 := heapAndGoroutines()
	closedBefore, dialsBefore := closed.Load(), h.dials.Load()

	var lat []time.Duration
	late := 0
	start := time.Now()
	i := 0
	for time.Since(start) < length {
		i++
		// Paced at 1,000 a minute: a change that went live late is followed by the next at
		// once, without the backlog growing.
		if wait := time.Until(start.Add(time.Duration(i-1) * soakInterval)); wait > 0 {
			time.Sleep(wait)
		}
		w := time.Now()
		write(i, true)
		for !markerLive(probe, base, i) {
			if time.Since(w) > 10*time.Second {
				t.Fatalf("change %d not live after 10 s", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		d := time.Since(w)
		lat = append(lat, d)
		if d > soakLive {
			late++
		}
	}
	elapsed := time.Since(start)
	changes := i
	heap1, gr1 := heapAndGoroutines()
	closedDuring, dialsDuring := closed.Load()-closedBefore, h.dials.Load()-dialsBefore
	stuck := !load.halt(15 * time.Second)
	h.finish()

	// Every message exchange counts as a request too; failures are the first error of a
	// connection or stream, after which it stops.
	failedStreams := len(load.errs)
	for range failedStreams {
		t.Errorf("a WebSocket connection or gRPC stream whose route stayed failed: %v", <-load.errs)
	}
	if stuck {
		t.Errorf("a WebSocket connection or gRPC stream stopped exchanging messages without an error")
	}
	if n := h.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests on the stable route failed; first: %v", n, n+h.ok.Load(), h.firstErr.Load())
	}
	// As in runReload: net/http itself closes a few connections on a starved machine.
	if closedDuring > int64(changes)/10 {
		t.Errorf("the gateway closed %d connections during %d changes", closedDuring, changes)
	}
	if late > 0 {
		t.Errorf("%d of %d changes were live later than %v after the write", late, changes, soakLive)
	}
	if want := int(length / soakInterval / 2); changes < want {
		t.Errorf("%d changes in %v, want at least %d (half the rate of 1,000 a minute)", changes, elapsed, want)
	}
	if n := reported.count(); n > 0 {
		t.Errorf("%d route sets rejected: %v", n, reported.errs[0])
	}
	// Generous bounds: what leaks per change or per request grows by thousands over 1,000
	// changes and 100,000 requests.
	if gr1 > gr0+200 {
		t.Errorf("goroutines: %d after the warm-up, %d after %d changes", gr0, gr1, changes)
	}
	if heap1 > heap0+32<<20 {
		t.Errorf("heap: %d KiB after the warm-up, %d KiB after %d changes", heap0>>10, heap1>>10, changes)
	}
	t.Logf("%v: %d changes (%.0f a minute), write-to-live %s; %d HTTP requests by %d clients (%d failed), "+
		"%d WebSocket messages on %d connections, %d gRPC messages on %d streams (%d failed or stuck); "+
		"connections closed by the gateway %d, dialled by the clients %d; goroutines %d -> %d, heap %d -> %d KiB",
		elapsed.Round(time.Second), changes, float64(changes)/elapsed.Minutes(), percentiles(lat),
		h.ok.Load(), soakClients, h.failed.Load(), load.wsMsgs.Load(), soakWS, load.grpcMsgs.Load(), soakStreams,
		failedStreams, closedDuring, dialsDuring, gr0, gr1, heap0>>10, heap1>>10)

	// The routes of the WebSocket connections and gRPC streams removed: each of those is
	// closed after the drain time, not before.
	removed := time.Now()
	write(changes+1, false)
	waitFor(t, "the removal is live", func() bool { return markerLive(probe, base, changes+1) })
	type end struct {
		err error
		at  time.Time
	}
	ended := make(chan end, soakWS+soakStreams)
	for _, c := range load.ws {
		go func() {
			err := c.waitClosed(soakDrain + 10*time.Second)
			ended <- end{err, time.Now()}
		}()
	}
	for _, s := range load.streams {
		go func() {
			var err error
			for err == nil {
				err = s.echo([]byte("after the removal"))
			}
			ended <- end{nil, time.Now()}
			s.cancel()
		}()
	}
	first := time.Now().Add(time.Hour)
	for range soakWS + soakStreams {
		select {
		case e := <-ended:
			if e.err != nil {
				t.Errorf("after its route was removed: %v", e.err)
			} else if e.at.Before(first) {
				first = e.at
			}
		case <-time.After(soakDrain + 15*time.Second):
			t.Fatalf("a gRPC stream still open %v after its route was removed", time.Since(removed).Round(time.Millisecond))
		}
	}
	if d := first.Sub(removed); d < soakDrain {
		t.Errorf("a stream of the removed routes was closed %v after the change, before the drain of %v", d, soakDrain)
	}
	t.Logf("routes of the streams removed: all %d closed %v-%v after the change (drain %v)", soakWS+soakStreams,
		first.Sub(removed).Round(time.Millisecond), time.Since(removed).Round(time.Millisecond), soakDrain)
	for _, c := range load.ws {
		_ = c.c.Close()
	}
}
