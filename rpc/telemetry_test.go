package rpc_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/telemetry"
)

func TestServerAndDialRecordOneTraceByDefault(t *testing.T) {
	t.Run("WithServerTelemetry", func(t *testing.T) {
		testOneTrace(t, func(opts ...telemetry.Option) rpc.ServerOption {
			h := telemetry.NewServerHandler(opts...)
			t.Cleanup(func() { _ = h.Close() })
			return rpc.WithServerTelemetry(h)
		})
	})
	t.Run("the deprecated WithTelemetry", func(t *testing.T) {
		testOneTrace(t, rpc.WithTelemetry) //nolint:staticcheck // the deprecated form still works for a release
	})
}

func testOneTrace(t *testing.T, serverTelemetry func(...telemetry.Option) rpc.ServerOption) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	prop := telemetry.Propagator()

	reg := newRegistry(t)
	srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID("a"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0),
		serverTelemetry(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(prop)))
	testpb.RegisterEchoServer(srv, echo{id: "a"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	client := telemetry.NewClientHandler(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(prop))
	t.Cleanup(func() { _ = client.Close() })
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithWaitReady(), rpc.WithClientTelemetry(client))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := testpb.NewEchoClient(conn).Echo(context.Background(), &testpb.EchoRequest{}); err != nil {
		t.Fatal(err)
	}
	_ = srv.Shutdown(context.Background()) // the server span has ended when the call has

	var server, clientSpan sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() != "tianshu.test.Echo/Echo" {
			continue
		}
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			clientSpan = s
		}
	}
	if server == nil || clientSpan == nil {
		t.Fatalf("want a client and a server span named tianshu.test.Echo/Echo, got %d spans", len(rec.Ended()))
	}
	if server.Parent().SpanID() != clientSpan.SpanContext().SpanID() || server.SpanContext().TraceID() != clientSpan.SpanContext().TraceID() {
		t.Fatalf("server span is not the client span's child: server parent %v, client %v", server.Parent(), clientSpan.SpanContext())
	}
}

// A handler made for one side and given to the other would record spans of the wrong kind:
// NewServer refuses it at start-up, Dial with an error.
func TestTelemetryHandlersOfTheWrongSideAreRefused(t *testing.T) {
	t.Run("NewServer", func(t *testing.T) {
		h := telemetry.NewClientHandler()
		t.Cleanup(func() { _ = h.Close() })
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "NewServerHandler") {
				t.Fatalf("NewServer with a client handler: recovered %v, want a panic naming NewServerHandler", r)
			}
		}()
		rpc.NewServer(rpc.WithServerTelemetry(h))
	})
	t.Run("Dial", func(t *testing.T) {
		h := telemetry.NewServerHandler()
		t.Cleanup(func() { _ = h.Close() })
		conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(newRegistry(t)), rpc.WithClientTelemetry(h))
		if err == nil {
			_ = conn.Close()
			t.Fatal("Dial with a server handler succeeded")
		}
		if !strings.Contains(err.Error(), "NewClientHandler") {
			t.Fatalf("Dial error %q does not name NewClientHandler", err)
		}
	})
}
