package rest_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest"
)

// load sends GETs at rate per second, each from its own goroutine (at most 200 at once),
// until stop is closed, and counts the answers.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	wg         sync.WaitGroup
}

func startLoad(c *rest.Client, url string, rate int, stop <-chan struct{}) *load {
	l := &load{}
	sem := make(chan struct{}, 200)
	l.wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sem <- struct{}{}
			l.wg.Go(func() {
				defer func() { <-sem }()
				if _, err := get(c, url); err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err.Error())
					}
					l.mu.Unlock()
					return
				}
				l.ok.Add(1)
			})
		}
	})
	return l
}

// A rolling restart of three instances, each deregistered before it stops and replaced by
// one on a new port, fails no idempotent request under 500 requests a second.
func TestRollingRestartFailsNoIdempotentRequest(t *testing.T) {
	provider, consumer := fileRegistries(t)
	c := newClient(t, consumer)
	old := []*backend{startBackend(t, "v1-a"), startBackend(t, "v1-b"), startBackend(t, "v1-c")}
	for _, b := range old {
		register(t, provider, b.instance("orders"))
	}
	eventually(t, "all three instances reached", func() bool { return len(seen(t, c, "http://orders/", 30)) == 3 })

	stop := make(chan struct{})
	l := startLoad(c, "http://orders/", 500, stop)
	start := time.Now()
	for i, b := range old {
		nb := startBackend(t, fmt.Sprintf("v2-%c", 'a'+i))
		register(t, provider, nb.instance("orders"))
		time.Sleep(3 * pollInterval)
		// What a server does on SIGTERM: deregister, let consumers see it, then drain.
		deregister(t, provider, b.instance("orders"))
		time.Sleep(5 * pollInterval)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := b.srv.Config.Shutdown(ctx); err != nil {
			t.Errorf("shutting %s down: %v", b.id, err)
		}
		cancel()
	}
	time.Sleep(3 * pollInterval)
	close(stop)
	l.wg.Wait()
	elapsed := time.Since(start)

	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during the rolling restart; first errors: %v", n, n+l.ok.Load(), l.errs)
	}
	// Loaded machines tick late; what matters is that real load ran throughout.
	if min := int64(elapsed.Seconds() * 500 / 4); l.ok.Load() < min {
		t.Errorf("only %d requests in %v; the load did not run (want at least %d)", l.ok.Load(), elapsed, min)
	}
	t.Logf("%d requests in %v, %d failed", l.ok.Load()+l.failed.Load(), elapsed.Round(time.Millisecond), l.failed.Load())
}

// After an instance stops abruptly without deregistering (its listener and connections
// closed, as by SIGKILL), requests fail only until the client ejects it, and then only
// its probes fail: at most ejectAfter failures, then one per back-off, the back-off
// doubling from ejectBase. With retries (the default) no request fails at all.
func TestAbruptStopFailuresStopWithinTheEjectionBound(t *testing.T) {
	reg := memory.New()
	bs := []*backend{startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")}
	for _, b := range bs {
		register(t, reg, b.instance("orders"))
	}
	checkEjectionBound(t, reg, bs[2].kill)
}

// The same with a real SIGKILL: the third instance is a process of its own (this test
// binary, serving; see TestMain), killed with no chance to close anything.
func TestASIGKILLedInstanceFailsWithinTheEjectionBound(t *testing.T) {
	reg := memory.New()
	for _, b := range []*backend{startBackend(t, "a"), startBackend(t, "b")} {
		register(t, reg, b.instance("orders"))
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childBackendEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the child instance printed no address: %v", err)
	}
	host, port, err := net.SplitHostPort(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the child instance printed %q: %v", line, err)
	}
	p, _ := strconv.Atoi(port)
	register(t, reg, &registry.Instance{ID: "child", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "http", Host: host, Port: p}}})
	checkEjectionBound(t, reg, func() {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	})
}

// checkEjectionBound calls the three instances of orders in reg until all answer, kills
// one with kill, and counts the failures that follow for a client without retries
// (bounded in the client's ejection and probe intervals) and one with them (none).
func checkEjectionBound(t *testing.T, reg *memory.Registry, kill func()) {
	const (
		ejectAfter = 2
		ejectBase  = 200 * time.Millisecond
		window     = 10 * ejectBase
	)
	raw := newClient(t, reg, rest.WithoutRetry(), rest.WithoutBreaker(),
		rest.WithPickOptions(pick.WithEjection(ejectAfter, ejectBase, 16*ejectBase)))
	retrying := newClient(t, reg, rest.WithPickOptions(pick.WithEjection(ejectAfter, ejectBase, 16*ejectBase)))
	for _, c := range []*rest.Client{raw, retrying} {
		eventually(t, "all three instances reached", func() bool { return len(seen(t, c, "http://orders/", 30)) == 3 })
	}

	kill()
	killed := time.Now()
	var failures []time.Duration
	requests := 0
	for time.Since(killed) < window {
		if _, err := get(raw, "http://orders/"); err != nil {
			failures = append(failures, time.Since(killed))
		}
		if _, err := get(retrying, "http://orders/"); err != nil {
			t.Errorf("with retries, a request failed after the kill: %v", err)
		}
		requests++
	}
	// Probes after the first ejection come at base, base+2·base, ...: within the window,
	// at most log2(window/base + 1) of them.
	probes := int(math.Log2(float64(window/ejectBase) + 1))
	bound := ejectAfter + probes + 1
	if len(failures) > bound {
		t.Errorf("%d of %d requests failed after the kill (at %v); the bound is ejectAfter %d + %d probes + 1 = %d",
			len(failures), requests, failures, ejectAfter, probes, bound)
	}
	if len(failures) < ejectAfter {
		t.Errorf("only %d failures after the kill; the test did not reach the dead instance", len(failures))
	}
	t.Logf("%d requests, failures at %v", requests, failures)
}
