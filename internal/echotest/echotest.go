// Package echotest serves the test echo service through rpc.NewServer and keeps calling it:
// the application half of the tests that break a registry's server under running
// providers and consumers and count what the callers saw.
package echotest

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

// Server answers every call with its payload and its ID.
type Server struct {
	testpb.UnimplementedEchoServer
	ID string
}

// Echo returns the payload, served by s.ID.
func (s Server) Echo(_ context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	return &testpb.EchoReply{Payload: req.Payload, ServedBy: s.ID}, nil
}

// Serve runs a Server with instance ID id of service on a loopback port, registered in reg,
// until the test ends, when it shuts down as a provider does (deregister, then drain).
func Serve(t testing.TB, reg registry.Registrar, service, id string, log *slog.Logger) {
	t.Helper()
	srv := rpc.NewServer(rpc.WithService(service), rpc.WithInstanceID(id), rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(100*time.Millisecond), rpc.WithServerLogger(log))
	testpb.RegisterEchoServer(srv, Server{ID: id})
	Run(t, srv)
}

// Run serves srv on a new loopback port until the test ends, then shuts it down (within
// 10 s) and fails the test if Serve returned an error.
func Run(t testing.TB, srv *rpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve on %s returned %v", lis.Addr(), err)
		}
	})
}

// WaitServedBy calls client (waiting for a ready connection) until each of ids has
// answered, and fails the test if that takes longer than timeout.
func WaitServedBy(t testing.TB, client testpb.EchoClient, timeout time.Duration, ids ...string) {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, id := range ids {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls not served by all of %v within %v; seen %v", ids, timeout, seen)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := client.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			seen[r.ServedBy] = true
		}
	}
}

// Load is a number of callers calling an echo client back to back, each call bounded to
// 5 s, counting calls and failures.
type Load struct {
	calls, failed atomic.Int64
	first         atomic.Pointer[error]
	stop          chan struct{}
	wg            sync.WaitGroup
}

// StartLoad starts callers calling client until Stop.
func StartLoad(client testpb.EchoClient, callers int) *Load {
	l := &Load{stop: make(chan struct{})}
	for range callers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.Echo(ctx, &testpb.EchoRequest{})
				cancel()
				l.calls.Add(1)
				if err != nil {
					l.failed.Add(1)
					l.first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	return l
}

// Calls returns the calls made so far.
func (l *Load) Calls() int64 { return l.calls.Load() }

// Rate waits d and returns how many calls per second completed meanwhile: the pace a test
// compares a later stretch with, such as the calls made while a registry was down.
func (l *Load) Rate(d time.Duration) float64 {
	n, start := l.calls.Load(), time.Now()
	time.Sleep(d)
	return float64(l.calls.Load()-n) / time.Since(start).Seconds()
}

// Stop stops the callers, waits for their last calls, and returns how many calls they made,
// how many failed, and the first failure (nil when none did).
func (l *Load) Stop() (calls, failed int64, first error) {
	close(l.stop)
	l.wg.Wait()
	if p := l.first.Load(); p != nil {
		first = *p
	}
	return l.calls.Load(), l.failed.Load(), first
}
