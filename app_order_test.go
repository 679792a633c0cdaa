package tianshu_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu"
)

// events records what the fake components and closers were asked to do, in order.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// fake is a Component that records its calls. Serve blocks until Shutdown unless serveErr
// is set, and reports on serving that it began.
type fake struct {
	name        string
	ev          *events
	port        int
	listenErr   error
	serveErr    error
	shutdownErr error
	serving     chan<- string
	stop        chan struct{}
	once        sync.Once
}

func newFake(name string, ev *events, port int, serving chan<- string) *fake {
	return &fake{name: name, ev: ev, port: port, serving: serving, stop: make(chan struct{})}
}

func (f *fake) Listen(context.Context) (net.Addr, error) {
	f.ev.add("listen " + f.name)
	if f.listenErr != nil {
		return nil, f.listenErr
	}
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: f.port}, nil
}

func (f *fake) Serve() error {
	f.ev.add("serve " + f.name)
	if f.serving != nil {
		f.serving <- f.name
	}
	if f.serveErr != nil {
		return f.serveErr
	}
	<-f.stop
	return nil
}

func (f *fake) Shutdown(context.Context) error {
	f.ev.add("shutdown " + f.name)
	f.once.Do(func() { close(f.stop) })
	return f.shutdownErr
}

// announced is a fake that registers itself. Its Deregister waits, up to a bound, for
// the other announced fakes' to begin, which proves they run together.
type announced struct {
	*fake
	together *atomic.Int32
	want     int32
}

func (a announced) Deregister(context.Context) error {
	a.ev.add("deregister " + a.name)
	a.together.Add(1)
	for deadline := time.Now().Add(10 * time.Second); a.together.Load() < a.want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			a.ev.add("deregister " + a.name + " alone")
			break
		}
	}
	return nil
}

func index(list []string, s string) int { return slices.Index(list, s) }

func TestRunStartsInOrderDeregistersAllThenStopsInReverseThenCloses(t *testing.T) {
	ev := &events{}
	serving := make(chan string, 3)
	var together atomic.Int32
	adm := newFake("admin", ev, 9090, serving)
	grpc := announced{newFake("grpc", ev, 9000, serving), &together, 2}
	web := announced{newFake("http", ev, 8080, serving), &together, 2}
	var addrs []net.Addr
	app := tianshu.New(
		tianshu.WithComponent(adm),
		tianshu.WithComponent(grpc),
		tianshu.WithComponent(web),
		tianshu.WithCloser(closeFunc(func() error { ev.add("close registry"); return nil })),
		tianshu.WithCloser(closeFunc(func() error { ev.add("close tracer"); return nil })),
		tianshu.WithSignals(),
		tianshu.WithStarted(func(a []net.Addr) { addrs = a }),
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	for range 3 {
		select {
		case <-serving:
		case err := <-done:
			t.Fatalf("Run returned %v before every component served", err)
		case <-time.After(20 * time.Second):
			t.Fatalf("not every component served within 20 s: %v", ev.all())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the stop")
	}

	got := ev.all()
	if fmt.Sprint(addrs) != "[127.0.0.1:9090 127.0.0.1:9000 127.0.0.1:8080]" {
		t.Errorf("WithStarted got %v, want the components' addresses in the order of the options", addrs)
	}
	if !slices.Equal(got[:3], []string{"listen admin", "listen grpc", "listen http"}) {
		t.Errorf("events %v: want every component listened, in the order of the options, before any serves", got)
	}
	for _, s := range []string{"admin", "grpc", "http"} {
		if index(got, "serve "+s) < 3 {
			t.Errorf("events %v: %s served before every component listened", got, s)
		}
	}
	firstShutdown := slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(s, "shutdown ") })
	for _, s := range []string{"grpc", "http"} {
		if i := index(got, "deregister "+s); i < 0 || i > firstShutdown {
			t.Errorf("events %v: %s did not deregister before the first shutdown", got, s)
		}
		if slices.Contains(got, "deregister "+s+" alone") {
			t.Errorf("events %v: the deregistrations did not run together", got)
		}
	}
	if slices.Contains(got, "deregister admin") {
		t.Errorf("events %v: a component that is no Deregisterer was deregistered", got)
	}
	want := []string{"shutdown http", "shutdown grpc", "shutdown admin", "close tracer", "close registry"}
	if !slices.Equal(got[len(got)-len(want):], want) {
		t.Errorf("events %v: want them to end with %v (components in reverse order, then closers in reverse)", got, want)
	}
}

func TestAListenErrorShutsEveryComponentServesNothingAndCloses(t *testing.T) {
	ev := &events{}
	errBusy := errors.New("address in use")
	first := newFake("first", ev, 1, nil)
	second := newFake("second", ev, 2, nil)
	second.listenErr = errBusy
	third := newFake("third", ev, 3, nil)
	err := tianshu.New(tianshu.WithComponent(first), tianshu.WithComponent(second), tianshu.WithComponent(third), tianshu.WithSignals(),
		tianshu.WithCloser(closeFunc(func() error { ev.add("close registry"); return nil }))).
		Run(context.Background())
	if !errors.Is(err, errBusy) {
		t.Fatalf("Run = %v, want the listen error", err)
	}
	// The second and third never listened, yet hold what they were made with (an
	// rpc.Server's stream workers), so they are shut down too, in reverse order.
	want := []string{"listen first", "listen second", "shutdown third", "shutdown second", "shutdown first", "close registry"}
	if got := ev.all(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v: every component shut down, nothing served, the closers ran", got, want)
	}
}

func TestAFailingComponentEndsTheRunAndEveryShutdownErrorIsReported(t *testing.T) {
	ev := &events{}
	errServe := errors.New("accept failed")
	errStop := errors.New("drain failed")
	ok := newFake("ok", ev, 1, nil)
	ok.shutdownErr = errStop
	bad := newFake("bad", ev, 2, nil)
	bad.serveErr = errServe
	done := make(chan error, 1)
	go func() {
		done <- tianshu.New(tianshu.WithComponent(ok), tianshu.WithComponent(bad), tianshu.WithSignals(),
			tianshu.WithLogger(discard())).Run(context.Background())
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errServe) || !errors.Is(err, errStop) {
			t.Fatalf("Run = %v, want the serve failure joined with the other's shutdown error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not end after a component failed")
	}
	if got := ev.all(); !slices.Contains(got, "shutdown ok") || !slices.Contains(got, "shutdown bad") {
		t.Errorf("events %v: want both shut down", got)
	}
}

func TestWithServerRunsAPlainHTTPServer(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hi")) }),
		ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- tianshu.New(tianshu.WithServer(srv, "127.0.0.1:0"), tianshu.WithSignals(),
			tianshu.WithStarted(func(a []net.Addr) { addr <- a[0] })).Run(ctx)
	}()
	select {
	case a := <-addr:
		resp, err := http.Get("http://" + a.String())
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET = %s", resp.Status)
		}
	case err := <-done:
		t.Fatalf("Run = %v before it served", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil: http.ErrServerClosed after Shutdown is no failure", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
