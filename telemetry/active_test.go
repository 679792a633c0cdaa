package telemetry_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/telemetry"
)

// blockingEcho holds every call until release is closed.
type blockingEcho struct {
	testpb.UnimplementedEchoServer
	entered chan struct{}
	release chan struct{}
}

func (b *blockingEcho) Echo(_ context.Context, r *testpb.EchoRequest) (*testpb.EchoReply, error) {
	b.entered <- struct{}{}
	<-b.release
	return &testpb.EchoReply{Payload: r.Payload}, nil
}

func activeCalls(t *testing.T, r *sdkmetric.ManualReader, name string) (int64, bool) {
	t.Helper()
	for _, m := range metrics(collect(t, r)) {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
			var n int64
			for _, p := range s.DataPoints {
				n += p.Value
			}
			return n, true
		}
	}
	return 0, false
}

func TestActiveCallsCountsCallsInFlight(t *testing.T) {
	for _, mode := range []string{"stats handlers", "interceptors"} {
		t.Run(mode, func(t *testing.T) {
			mp, r := meterProvider(t)
			o := []telemetry.Option{telemetry.WithMeterProvider(mp)}
			sh, ch := telemetry.NewServerHandler(o...), telemetry.NewClientHandler(o...)
			sopts := []grpc.ServerOption{grpc.StatsHandler(sh)}
			dopts := []grpc.DialOption{grpc.WithStatsHandler(ch)}
			if mode == "interceptors" {
				sopts = []grpc.ServerOption{grpc.UnaryInterceptor(sh.UnaryServerInterceptor())}
				dopts = []grpc.DialOption{grpc.WithUnaryInterceptor(ch.UnaryClientInterceptor())}
			}
			srv := &blockingEcho{entered: make(chan struct{}), release: make(chan struct{})}
			client := startEcho(t, srv, sopts, dopts)
			done := make(chan error, 1)
			go func() {
				_, err := client.Echo(context.Background(), &testpb.EchoRequest{})
				done <- err
			}()
			<-srv.entered
			for _, name := range []string{telemetry.ServerActiveCallsName, telemetry.ClientActiveCallsName} {
				if n, _ := activeCalls(t, r, name); n != 1 {
					t.Errorf("%s = %d during a call, want 1", name, n)
				}
			}
			close(srv.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				s, _ := activeCalls(t, r, telemetry.ServerActiveCallsName)
				c, _ := activeCalls(t, r, telemetry.ClientActiveCallsName)
				if s == 0 && c == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after the call: server %d, client %d in flight, want 0", s, c)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := sh.Close(); err != nil {
				t.Fatal(err)
			}
			if _, ok := activeCalls(t, r, telemetry.ServerActiveCallsName); ok {
				t.Error("the server gauge is still reported after Close")
			}
		})
	}
}
