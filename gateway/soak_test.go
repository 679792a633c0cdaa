package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

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
	// soakLive bounds a change's write-to-live, from the start of its write to the table
	// holding it in force: generous (the benchmarks measure it; the target is 100 ms
	// p99).
	soakLive = time.Second
	// soakSeen bounds the time from the start of a write to the end of the first answer
	// through the gateway showing it: besides write-to-live, that is the prober's request,
	// which on a saturated machine waits behind every client's.
	soakSeen = 10 * time.Second
)

// liveSlowdown scales soakLive under the race detector, which makes the same work 5-10
// times slower: the gateway, the clients and the upstreams share the machine's cores.
var liveSlowdown = func() time.Duration {
	if testenv.RaceDetector {
		return 5
	}
	return 1
}()

// liveProbe times the changes: when each is put in force, and when a request first sees
// it.
type liveProbe struct {
	mu      sync.Mutex
	writes  []time.Time     // of change i at i-1
	live    []time.Duration // of change i at i-1, once in force
	seen    []time.Duration // of change i at i-1, once seen
	err     error           // the first failed probe, or a change seen going back
	probes  int
	stop    chan struct{}
	stopped chan struct{}
}

func newLiveProbe() *liveProbe {
	return &liveProbe{stop: make(chan struct{}), stopped: make(chan struct{})}
}

// middleware is given to the gateway to learn when change i is put in force: the gateway
// calls its middleware for every route while it builds a table, right before the table
// replaces the one in force, so the call for route change-<i> is change i going live.
// Changes a source coalesced go live with the later one.
func (p *liveProbe) middleware(route string, next http.Handler) http.Handler {
	if n, err := strconv.Atoi(strings.TrimPrefix(route, "change-")); err == nil {
		now := time.Now()
		p.mu.Lock()
		for len(p.live) < n && len(p.live) < len(p.writes) {
			p.live = append(p.live, now.Sub(p.writes[len(p.live)]))
		}
		p.mu.Unlock()
	}
	return next
}

// start reads the marker route in a loop, noting when each change is first seen.
func (p *liveProbe) start(c *http.Client, base string) {
	go func() {
		defer close(p.stopped)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			n, err := markerChange(c, base)
			now := time.Now()
			p.mu.Lock()
			p.probes++
			switch {
			case err != nil:
				if p.err == nil {
					p.err = fmt.Errorf("a request to the marker route failed: %w", err)
				}
			case n < len(p.seen):
				if p.err == nil {
					p.err = fmt.Errorf("the marker route went back to change %d after showing %d", n, len(p.seen))
				}
			}
			for len(p.seen) < n && len(p.seen) < len(p.writes) {
				p.seen = append(p.seen, now.Sub(p.writes[len(p.seen)]))
			}
			p.mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
}

// written notes that the write of change i starts now.
func (p *liveProbe) written(i int) {
	p.mu.Lock()
	p.writes = append(p.writes, time.Now())
	p.mu.Unlock()
}

// finish waits until change last is seen, up to timeout, and returns each change's
// write-to-live and write-to-seen.
func (p *liveProbe) finish(last int, timeout time.Duration) (live, seen []time.Duration, err error) {
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		n := len(p.seen)
		p.mu.Unlock()
		if n >= last || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
	case len(p.live) < last:
		p.err = fmt.Errorf("change %d of %d not in force %v after the last write", len(p.live)+1, last, timeout)
	case len(p.seen) < last:
		p.err = fmt.Errorf("change %d of %d not seen %v after the last write", len(p.seen)+1, last, timeout)
	}
	return p.live, p.seen, p.err
}

// markerChange returns the change the marker route shows (the i of its rewrite to /m/<i>).
func markerChange(c *http.Client, base string) (int, error) {
	resp, err := c.Get(base + "/marker")
	if err != nil {
		return 0, err
	}
	// Read to the end, so that the connection is kept.
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	var s seen
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d, %v", resp.StatusCode, err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s.Path, "/m/"))
	if err != nil {
		return 0, fmt.Errorf("the marker route went to %q", s.Path)
	}
	return n, nil
}

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
// is in force within 1 s (and seen through the gateway within 10 s), and the goroutines
// and the heap do not grow with the changes. At the end the routes of the WebSocket
// connections and gRPC streams are removed: each is closed after the drain time.
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
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func startStreamLoad(t *testing.T, base string) *streamLoad {
	l := &streamLoad{errs: make(chan error, soakWS+soakStreams), stop: make(chan struct{})}
	conn := grpcConn(t, base)
	// Should the test end early, before the gateway's server stops (cleanups run last
	// first).
	t.Cleanup(func() {
		l.halt(time.Second)
		for _, c := range l.ws {
			_ = c.c.Close()
		}
		for _, s := range l.streams {
			s.cancel()
		}
	})
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
	l.stopOnce.Do(func() { close(l.stop) })
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

// httpLoad keeps clients sending keep-alive requests to the stable route, as startHammer
// does, and tells apart who ended each connection: one that carried a request and whose
// read met its end before the client closed it was closed by the gateway (dropped); the
// client closed the others itself (net/http drops a connection on a starved machine when
// a request's write has not been seen to finish in time, and the idle ones at the end).
// An answer with "Connection: close" counts as a drop too (asked), though the client
// closes that connection itself. A connection the client dialled but never used, because
// another came free first, is closed by the gateway's server after its ReadHeaderTimeout,
// as a slowloris would be: counted apart (unused).
type httpLoad struct {
	ok, failed                  atomic.Int64
	dials, dropped, own, unused atomic.Int64
	asked                       atomic.Int64
	firstErr                    atomic.Value
	stop                        chan struct{}
	stopOnce                    sync.Once
	wg                          sync.WaitGroup
	tr                          *http.Transport
}

// endConn reports its end to its httpLoad.
type endConn struct {
	net.Conn
	l        *httpLoad
	peerDone atomic.Bool
	used     atomic.Bool
	once     sync.Once
}

func (c *endConn) Write(p []byte) (int, error) {
	c.used.Store(true)
	return c.Conn.Write(p)
}

func (c *endConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.peerDone.Store(true)
	}
	return n, err
}

func (c *endConn) Close() error {
	c.once.Do(func() {
		switch {
		case c.peerDone.Load() && c.used.Load():
			c.l.dropped.Add(1)
		case c.peerDone.Load():
			c.l.unused.Add(1)
		default:
			c.l.own.Add(1)
		}
	})
	return c.Conn.Close()
}

func startHTTPLoad(base string, clients int) *httpLoad {
	l := &httpLoad{stop: make(chan struct{})}
	d := &net.Dialer{}
	// Twice as many idle connections as clients, so that the client keeps every one.
	l.tr = &http.Transport{MaxIdleConnsPerHost: 2 * clients, DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		l.dials.Add(1)
		c, err := d.DialContext(ctx, n, a)
		if err != nil {
			return nil, err
		}
		return &endConn{Conn: c, l: l}, nil
	}}
	c := &http.Client{Transport: l.tr, Timeout: 10 * time.Second}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get(base + "/stable/x")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.Close {
						l.asked.Add(1)
					}
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err)
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

func (l *httpLoad) finish() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.tr.CloseIdleConnections()
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
	live := newLiveProbe()
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(soakDrain), gateway.WithErrorHandler(reported.add),
		gateway.WithLogger(quiet()), gateway.WithMiddleware(live.middleware))
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
	h := startHTTPLoad(base, soakClients)
	t.Cleanup(h.finish)
	waitFor(t, "every client and stream has exchanged messages", func() bool {
		return h.ok.Load() >= 4*soakClients && load.wsMsgs.Load() >= 4*soakWS && load.grpcMsgs.Load() >= 4*soakStreams
	})
	heap0, gr0 := heapAndGoroutines()
	closedBefore, dialsBefore, droppedBefore, ownBefore := closed.Load(), h.dials.Load(), h.dropped.Load(), h.own.Load()
	unusedBefore, askedBefore := h.unused.Load(), h.asked.Load()

	// Changes are written at a steady 1,000 a minute, whatever the gateway does; each is
	// timed from the start of its write to its table in force (live) and to the end of the
	// first answer of the marker route showing it or a later one (seen).
	live.start(probe, base)
	start := time.Now()
	i := 0
	for time.Since(start) < length {
		i++
		if wait := time.Until(start.Add(time.Duration(i-1) * soakInterval)); wait > 0 {
			time.Sleep(wait)
		}
		live.written(i)
		write(i, true)
	}
	elapsed := time.Since(start)
	changes := i
	lat, seen, probeErr := live.finish(changes, soakSeen)
	if probeErr != nil {
		t.Error(probeErr)
	}
	late, lateSeen := 0, 0
	for i, d := range lat {
		if d > soakLive*liveSlowdown {
			late++
		}
		if i < len(seen) && seen[i] > soakSeen {
			lateSeen++
		}
	}
	heap1, gr1 := heapAndGoroutines()
	closedDuring, dialsDuring := closed.Load()-closedBefore, h.dials.Load()-dialsBefore
	dropped, own, unused := h.dropped.Load()-droppedBefore, h.own.Load()-ownBefore, h.unused.Load()-unusedBefore
	asked := h.asked.Load() - askedBefore
	// The client closes a connection it was asked to close itself: a drop by the gateway.
	dropped, own = dropped+asked, own-asked
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
	if dropped > 0 {
		t.Errorf("the gateway closed %d of the clients' keep-alive connections during %d changes", dropped, changes)
	}
	if late > 0 {
		t.Errorf("%d of %d changes were live later than %v after the write", late, changes, soakLive*liveSlowdown)
	}
	if lateSeen > 0 {
		t.Errorf("%d of %d changes were seen through the gateway later than %v after the write", lateSeen, changes, soakSeen)
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
	t.Logf("%v: %d changes (%.0f a minute), write-to-live %s, write-to-seen %s; %d HTTP requests by %d clients (%d failed), "+
		"%d probes of the marker route, %d WebSocket messages on %d connections, %d gRPC messages on %d streams (%d failed or stuck); "+
		"keep-alive connections closed by the gateway %d, by the clients themselves %d, never used %d, dialled %d "+
		"(closes the gateway's server saw, any side, %d); goroutines %d -> %d, heap %d -> %d KiB",
		elapsed.Round(time.Second), changes, float64(changes)/elapsed.Minutes(), percentiles(lat), percentiles(seen),
		h.ok.Load(), soakClients, h.failed.Load(), live.probes, load.wsMsgs.Load(), soakWS, load.grpcMsgs.Load(), soakStreams,
		failedStreams, dropped, own, unused, dialsDuring, closedDuring, gr0, gr1, heap0>>10, heap1>>10)

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
			at := time.Now()
			if st := s.endStatus(); st.Code() != codes.Unavailable {
				err = fmt.Errorf("a gRPC stream of a removed route ended with %v, want Unavailable", st)
			} else {
				err = nil
			}
			ended <- end{err, at}
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
