package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/gateway"
)

// reloadDoc is change i of the reload tests: the route "stable" never changes, "marker"
// rewrites to /m/<i> so that a request shows which change is live, and a route of the
// change's own comes and goes.
func reloadDoc(a, b string, i int) string {
	return fmt.Sprintf(`
gateway:
  routes:
    - name: stable
      match: {path: {prefix: /stable}}
      target: {urls: [%q]}
    - name: marker
      match: {path: {exact: /marker}}
      target: {urls: [%q]}
      rewrite: {path: /m/%d}
    - name: change-%d
      match: {path: {prefix: /change/%d}}
      target: {urls: [%q]}
`, a, b, i, i, i, a)
}

// errorLog collects reported errors.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (e *errorLog) add(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }
func (e *errorLog) count() int    { e.mu.Lock(); defer e.mu.Unlock(); return len(e.errs) }

// hammer keeps clients sending keep-alive requests to the stable route, counting failures
// and the connections dialled, until stop.
type hammer struct {
	failed, ok, dials atomic.Int64
	firstErr          atomic.Value
	stop              chan struct{}
	wg                sync.WaitGroup
	tr                *http.Transport
}

func startHammer(base string, clients int) *hammer {
	h := &hammer{stop: make(chan struct{})}
	d := &net.Dialer{}
	// Twice as many idle connections as clients, so that the client never closes one
	// itself: every connection closed is the gateway's doing.
	h.tr = &http.Transport{MaxIdleConnsPerHost: 2 * clients, DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
		h.dials.Add(1)
		return d.DialContext(ctx, n, a)
	}}
	c := &http.Client{Transport: h.tr, Timeout: 10 * time.Second}
	for i := 0; i < clients; i++ {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			for {
				select {
				case <-h.stop:
					return
				default:
				}
				resp, err := c.Get(base + "/stable/x")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					h.failed.Add(1)
					h.firstErr.CompareAndSwap(nil, err)
					continue
				}
				h.ok.Add(1)
			}
		}()
	}
	return h
}

func (h *hammer) finish() {
	close(h.stop)
	h.wg.Wait()
	h.tr.CloseIdleConnections()
}

// markerLive reports whether the marker route shows change i.
func markerLive(c *http.Client, base string, i int) bool {
	resp, err := c.Get(base + "/marker")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200 && strings.Contains(string(b), fmt.Sprintf(`"path":"/m/%d"`, i))
}

// runReload makes changes changes through write while clients hammer the stable route, and
// returns each change's write-to-live time.
func runReload(t testing.TB, base string, closed *atomic.Int64, changes int, write func(i int), clients int) []time.Duration {
	t.Helper()
	probe := &http.Client{Transport: &http.Transport{}}
	defer probe.CloseIdleConnections()
	h := startHammer(base, clients)
	// Let every client open its connection before counting dials.
	deadline := time.Now().Add(10 * time.Second)
	for h.ok.Load() < int64(clients)*4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	closedBefore := closed.Load()
	lat := make([]time.Duration, 0, changes)
	for i := 1; i <= changes; i++ {
		start := time.Now()
		write(i)
		for !markerLive(probe, base, i) {
			if time.Since(start) > 10*time.Second {
				h.finish()
				t.Fatalf("change %d not live after 10s", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	// Counted before the clients close their connections themselves.
	closedDuring := closed.Load() - closedBefore
	h.finish()
	if n := h.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests on the stable route failed during %d changes; first: %v", n, n+h.ok.Load(), changes, h.firstErr.Load())
	}
	// A change that closed connections would close about one per client and change. A few
	// closes happen anyway on a starved machine, from net/http itself: the client drops a
	// connection whose request write it has not seen finish within 50 ms, and the server
	// can meet a stale read deadline; hence a bound, not zero (the count is logged).
	if n := closedDuring; n > int64(changes)/10 {
		t.Errorf("the gateway closed %d connections during %d changes", n, changes)
	}
	t.Logf("%d changes, %d requests on the stable route by %d clients, %d failed, %d connections closed; write-to-live %s",
		changes, h.ok.Load(), clients, h.failed.Load(), closedDuring, percentiles(lat))
	return lat
}

func percentiles(d []time.Duration) string {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %v p99 %v max %v", s[len(s)/2], s[len(s)*99/100], s[len(s)-1])
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadFromFile(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, reloadDoc(a.srv.URL, b.srv.URL, 0))
	var reported errorLog
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(time.Second), gateway.WithErrorHandler(reported.add), gateway.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Watch(ctx, []config.Source{file.New(path, file.WithDebounce(time.Millisecond))}); err != nil {
		t.Fatal(err)
	}
	base, closed := startGatewayCounting(t, g)

	changes := 1000
	if testing.Short() {
		changes = 100
	}
	runReload(t, base, closed, changes, func(i int) { writeFile(t, path, reloadDoc(a.srv.URL, b.srv.URL, i)) }, reloadClients)

	// An invalid set is rejected whole and reported once; the last good one serves on.
	gen := g.Generation()
	bad := strings.Replace(reloadDoc(a.srv.URL, b.srv.URL, changes+1), "rewrite:", "rewrte:", 1)
	writeFile(t, path, bad)
	waitFor(t, "the rejection is reported", func() bool { return reported.count() == 1 })
	writeFile(t, path, bad+"\n# the same mistake again\n")
	time.Sleep(300 * time.Millisecond) // several debounce intervals
	if n := reported.count(); n != 1 {
		t.Errorf("the same mistake reported %d times, want once", n)
	}
	if g.Generation() != gen || !markerLive(http.DefaultClient, base, changes) {
		t.Errorf("an invalid set changed the routes in force")
	}
	if !strings.Contains(reported.errs[0].Error(), "rewrte") {
		t.Errorf("the error does not name the unknown key: %v", reported.errs[0])
	}
	writeFile(t, path, reloadDoc(a.srv.URL, b.srv.URL, changes+2))
	waitFor(t, "a valid set after an invalid one applies", func() bool { return markerLive(http.DefaultClient, base, changes+2) })
	http.DefaultClient.CloseIdleConnections()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reloadClients is how many keep-alive clients hammer the gateway during reload tests
// (GW_CLIENTS overrides it, to see how write-to-live grows with load on this machine).
var reloadClients = func() int {
	if n, err := strconv.Atoi(os.Getenv("GW_CLIENTS")); err == nil && n > 0 {
		return n
	}
	return 64
}()
