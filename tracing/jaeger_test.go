package tracing_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"
)

// chainService is one Tianshu service of the A -> B -> C chain, with a tracer provider of
// its own, as a separate process would have.
func chainService(t *testing.T, reg *memory.Registry, name, next string, tp *tracing.TracerProvider) {
	t.Helper()
	ctx := context.Background()
	hopts := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator())}
	impl := &echoServer{id: name}
	if next != "" {
		h := telemetry.NewClientHandler(hopts...)
		t.Cleanup(func() { _ = h.Close() })
		cc, err := rpc.Dial(ctx, "tianshu:///"+next, rpc.WithDiscovery(reg), rpc.WithClientTelemetry(h))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		impl.next = testpb.NewEchoClient(cc)
	}
	srv := rpc.NewServer(rpc.WithRegistrar(reg), rpc.WithService(name), rpc.WithDeregisterDelay(0),
		rpc.WithServerTelemetry(telemetry.NewServerHandler(hopts...)), rpc.WithServerLogger(discard()))
	testpb.RegisterEchoServer(srv, impl)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
}

// TestJaegerHoldsOneTraceAcrossThreeServices calls A, which calls B, which calls C, each
// exporting to a real Jaeger (A and C over OTLP/gRPC, B over OTLP/HTTP), and reads the
// trace back through Jaeger's query API.
func TestJaegerHoldsOneTraceAcrossThreeServices(t *testing.T) {
	j := testenv.StartJaeger(t)
	ctx := context.Background()
	run := strings.ReplaceAll(t.Name(), "/", "-") + fmt.Sprint(time.Now().UnixNano())
	names := map[string]string{"A": "a-" + run, "B": "b-" + run, "C": "c-" + run}
	providers := map[string]*tracing.TracerProvider{}
	for svc, endpoint := range map[string]string{"A": j.OTLPGRPC, "B": j.OTLPHTTP, "C": j.OTLPGRPC} {
		proto := tracing.ProtocolGRPC
		if svc == "B" {
			proto = tracing.ProtocolHTTP
		}
		tp, err := tracing.NewTracerProvider(ctx, tracing.WithServiceName(names[svc]), tracing.WithServiceVersion("1.0.0"),
			tracing.WithOTLP(proto, endpoint), tracing.WithSampleRatio(1))
		if err != nil {
			t.Fatal(err)
		}
		providers[svc] = tp
	}
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	chainService(t, reg, names["C"], "", providers["C"])
	chainService(t, reg, names["B"], names["C"], providers["B"])
	chainService(t, reg, names["A"], names["B"], providers["A"])

	// Servers register once they serve: wait for all three before calling.
	for _, name := range names {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ins, err := reg.GetService(ctx, name)
			if err == nil && len(ins) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not register: %v", name, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The caller is not traced, so A's server span is the root whatever the global
	// providers are (ExampleSetup leaves its own installed for later runs of -count).
	cc, err := rpc.Dial(ctx, "tianshu:///"+names["A"], rpc.WithDiscovery(reg), rpc.WithoutClientTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := testpb.NewEchoClient(cc).Echo(callCtx, &testpb.EchoRequest{Payload: []byte("chain")}); err != nil {
		t.Fatal(err)
	}
	// Shutdown flushes each provider's batch; A's server span may end just after the
	// answer, so give the servers a moment by waiting for C's trace to be complete.
	time.Sleep(100 * time.Millisecond)
	for svc, tp := range providers {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := tp.Shutdown(sctx); err != nil {
			t.Errorf("flush of %s: %v", svc, err)
		}
		cancel()
	}

	var tr testenv.JaegerTrace
	deadline := time.Now().Add(60 * time.Second)
	for {
		traces, err := j.Traces(ctx, names["C"])
		if err == nil && len(traces) == 1 && len(traces[0].Spans) == 5 {
			tr = traces[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger did not return one trace of 5 spans for %s: %d traces, err %v", names["C"], len(traces), err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Walk up from C's server span: C server <- B client <- B server <- A client <- A server.
	want := []struct{ svc, kind string }{
		{names["C"], "server"}, {names["B"], "client"}, {names["B"], "server"}, {names["A"], "client"}, {names["A"], "server"},
	}
	var s testenv.JaegerSpan
	for _, cand := range tr.Spans {
		if tr.Service(cand) == names["C"] && cand.Tag("span.kind") == "server" {
			s = cand
		}
	}
	for i, w := range want {
		if got, kind := tr.Service(s), s.Tag("span.kind"); got != w.svc || kind != w.kind || s.OperationName != "tianshu.test.Echo/Echo" {
			t.Fatalf("span %d up the chain is %s %v of %s, want tianshu.test.Echo/Echo %s of %s",
				i, s.OperationName, kind, got, w.kind, w.svc)
		}
		p, ok := tr.Parent(s)
		if i == len(want)-1 {
			if ok {
				t.Fatalf("A's server span has a parent %s of %s", p.OperationName, tr.Service(p))
			}
			break
		}
		if !ok {
			t.Fatalf("span %d (%s) has no parent in the trace", i, tr.Service(s))
		}
		s = p
	}
}
