package telemetry

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// TestBeforeAnySetACallMakesNoSpanOfItsOwn runs in a process of its own (other tests set
// and restore the globals, after which the start-up wrappers delegate): a handler on
// OpenTelemetry's globals, as rpc's defaults make them, recognises the unset globals, so
// a call under them, which nothing would record, propagate or measure, passes through
// with the caller's context: no state, span or context of its own.
func TestBeforeAnySetACallMakesNoSpanOfItsOwn(t *testing.T) {
	if os.Getenv("TIANSHU_TELEMETRY_UNSET_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestBeforeAnySetACallMakesNoSpanOfItsOwn$", "-test.v")
		cmd.Env = append(os.Environ(), "TIANSHU_TELEMETRY_UNSET_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	h := NewClientHandler(WithoutActiveCalls())
	if h.unsetTP == nil || h.unsetProp == nil {
		t.Fatalf("the start-up globals (%T, %T) were not recognised: every call boxes a span and locks a mutex",
			otel.GetTracerProvider(), otel.GetTextMapPropagator())
	}
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2},
		TraceFlags: trace.FlagsSampled, Remote: true})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	call := h.UnaryClientInterceptor()
	invoke := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		span := trace.SpanFromContext(ctx)
		if span.IsRecording() || !span.SpanContext().Equal(parent) {
			t.Fatalf("the callee sees span %v (recording %v), want the caller's %v, not recording",
				span.SpanContext(), span.IsRecording(), parent)
		}
		if md, _ := metadata.FromOutgoingContext(ctx); len(md) != 0 {
			t.Fatalf("sent %v before any propagator was set", md)
		}
		return nil
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := call(ctx, "/tianshu.test.Echo/Echo", nil, nil, nil, invoke); err != nil {
			t.Fatal(err)
		}
	})
	// The global tracer's span and its context layer would be two, the call's state one.
	if allocs != 0 {
		t.Errorf("the gRPC client allocated %v times a call before any Set, want 0", allocs)
	}
	si := NewServerHandler(WithoutActiveCalls()).UnaryServerInterceptor()
	sctx := metadata.NewIncomingContext(context.Background(), metadata.MD{
		"traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	info := &grpc.UnaryServerInfo{FullMethod: "/tianshu.test.Echo/Echo"}
	handler := func(ctx context.Context, _ any) (any, error) {
		if ctx != sctx {
			t.Fatal("the server handler got a context of the interceptor's before any Set")
		}
		return nil, nil
	}
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := si(sctx, nil, info, handler); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("the gRPC server allocated %v times a call before any Set, want 0", allocs)
	}

	// The HTTP client and server do no work at all (the meter is the unset global too).
	hc := NewHTTPClient()
	req, _ := http.NewRequest(http.MethodGet, "http://orders/items", nil)
	resp := &http.Response{StatusCode: 200}
	if allocs := testing.AllocsPerRun(100, func() {
		out, r := hc.Start(req, 0)
		if out != req {
			t.Fatal("the HTTP client copied the request before any Set")
		}
		hc.End(&r, resp, nil)
	}); allocs != 0 {
		t.Errorf("the HTTP client allocated %v times a request before any Set, want 0", allocs)
	}
	hs := NewHTTPServer()
	if allocs := testing.AllocsPerRun(100, func() {
		ctx, r := hs.Start(req, "GET /items")
		hs.End(ctx, r, 200)
	}); allocs != 0 {
		t.Errorf("the HTTP server allocated %v times a request before any Set, want 0", allocs)
	}
}
