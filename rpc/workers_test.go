package rpc_test

import (
	"context"
	"fmt"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
)

// workers counts the goroutines waiting in or running grpc-go's stream workers.
func workers(t *testing.T) int {
	t.Helper()
	var b strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	n := 0
	_, records, _ := strings.Cut(b.String(), "\n") // past "goroutine profile: total N"
	for _, rec := range strings.Split(records, "\n\n") {
		if strings.Contains(rec, "grpc.(*Server).serverWorker") {
			var count int
			if _, err := fmt.Sscan(rec, &count); err == nil {
				n += count
			}
		}
	}
	return n
}

func TestAServerKeepsItsStreamWorkersUntilStopped(t *testing.T) {
	before := workers(t)
	for _, c := range []struct {
		name string
		opts []rpc.ServerOption
		want int
	}{
		{"by default", nil, rpc.DefaultStreamWorkers()},
		{"five", []rpc.ServerOption{rpc.WithStreamWorkers(5)}, 5},
		{"none", []rpc.ServerOption{rpc.WithStreamWorkers(0)}, 0},
		{"a negative number: none", []rpc.ServerOption{rpc.WithStreamWorkers(-1)}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := rpc.NewServer(append(c.opts, rpc.WithServerLogger(discardLogger()))...)
			waitWorkers(t, before+c.want, "after NewServer")
			srv.Stop()
			waitWorkers(t, before, "after Stop")
		})
	}
}

// A call that finds every worker busy gets a goroutine of its own: workers never queue
// calls behind one another.
func TestStreamWorkersDoNotLimitConcurrentCalls(t *testing.T) {
	const calls = 4
	arrived := make(chan struct{}, calls)
	release := make(chan struct{})
	srv := rpc.NewServer(rpc.WithStreamWorkers(1), rpc.WithServerLogger(discardLogger()))
	testpb.RegisterEchoServer(srv, blockingEcho{arrived: arrived, release: release})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, calls)
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() {
			_, err := testpb.NewEchoClient(conn).Echo(ctx, &testpb.EchoRequest{})
			errs <- err
		})
	}
	for i := range calls {
		select {
		case <-arrived:
		case <-ctx.Done():
			t.Fatalf("%d of %d calls reached the handler with one worker busy", i, calls)
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call: %v", err)
		}
	}
}

type blockingEcho struct {
	testpb.UnimplementedEchoServer
	arrived chan<- struct{}
	release <-chan struct{}
}

func (e blockingEcho) Echo(ctx context.Context, _ *testpb.EchoRequest) (*testpb.EchoReply, error) {
	e.arrived <- struct{}{}
	select {
	case <-e.release:
		return &testpb.EchoReply{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitWorkers waits until want stream workers run; they start as goroutines, so a count
// taken at once may miss some.
func waitWorkers(t *testing.T, want int, when string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); workers(t) != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d stream workers %s, want %d", workers(t), when, want)
		}
	}
}
