package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc/admin"
	"github.com/tianshu-go/tianshu/telemetry"
)

type echo struct{ testpb.UnimplementedEchoServer }

func (echo) Echo(_ context.Context, r *testpb.EchoRequest) (*testpb.EchoReply, error) {
	return &testpb.EchoReply{Payload: r.Payload}, nil
}

// TestScrapeParsesAndHoldsTianshuSeries makes calls, breaker decisions and registry
// changes, then scrapes /metrics the way Prometheus does and parses it with Prometheus's
// own text parser.
func TestScrapeParsesAndHoldsTianshuSeries(t *testing.T) {
	ctx := context.Background()
	prom, err := metrics.NewPrometheus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Shutdown(ctx) })
	mp := prom.MeterProvider()

	// RPC metrics from both sides of a call.
	hopts := []telemetry.Option{telemetry.WithMeterProvider(mp), telemetry.WithTextMapPropagator(propagation.TraceContext{})}
	srv := grpc.NewServer(telemetry.ServerOption(hopts...))
	testpb.RegisterEchoServer(srv, echo{})
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	ireg, err := metrics.InstrumentRegistry(reg, mp)
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		telemetry.DialOption(hopts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	for range 3 {
		if _, err := testpb.NewEchoClient(cc).Echo(ctx, &testpb.EchoRequest{Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}

	// Breaker state.
	g, err := breaker.NewGroup(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	b, err := g.Get("/tianshu.test.Echo/Echo")
	if err != nil {
		t.Fatal(err)
	}
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	done(true)
	breg, err := metrics.ObserveBreakers(mp, g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = breg.Unregister() })

	// Registry events.
	in := &registry.Instance{ID: "echo-1", Service: "echo",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9}}}
	for range 2 {
		if err := ireg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	w, err := ireg.Watch(ctx, "echo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}

	base := start(t, admin.WithMetrics(prom.Handler()))
	// A stats handler sees a call end after grpc-go has sent its status, so the client can
	// have its third answer before the server has counted the third call: scrape until it has.
	var families map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		families = scrape(t, base)
		if serverCalls(families) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	want := []struct{ family, labels string }{
		{"rpc_server_call_duration_seconds", `rpc_method="tianshu.test.Echo/Echo" rpc_response_status_code="OK" rpc_system_name="grpc"`},
		{"rpc_client_call_duration_seconds", `rpc_method="tianshu.test.Echo/Echo" rpc_response_status_code="OK"`},
		{"tianshu_rpc_server_active_calls", `rpc_method="tianshu.test.Echo/Echo"`},
		{"tianshu_rpc_client_active_calls", `rpc_method="tianshu.test.Echo/Echo"`},
		{"tianshu_breaker_state", `breaker="/tianshu.test.Echo/Echo" state="closed"`},
		{"tianshu_breaker_rejected_total", `breaker="/tianshu.test.Echo/Echo"`},
		{"tianshu_registry_instances", `service="echo"`},
		{"tianshu_registry_registrations_total", `repeat="true" result="ok" service="echo"`},
		{"go_goroutines", ``},
	}
	for _, w := range want {
		mf, ok := families[w.family]
		if !ok {
			t.Errorf("no family %s; have %s", w.family, names(families))
			continue
		}
		if !hasLabels(mf.GetMetric(), w.labels) {
			t.Errorf("family %s has no series with %s", w.family, w.labels)
		}
	}
	if n := serverCalls(families); n != 3 {
		t.Errorf("server histogram counted %d calls, want 3", n)
	}
}

// scrape gets /metrics as Prometheus does and parses it with Prometheus's own text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	return families
}

// serverCalls is the number of calls the server's duration histogram has counted.
func serverCalls(families map[string]*dto.MetricFamily) uint64 {
	var n uint64
	for _, m := range families["rpc_server_call_duration_seconds"].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

func hasLabels(ms []*dto.Metric, labels string) bool {
	for _, m := range ms {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = `"` + lp.GetValue() + `"`
		}
		ok := true
		for _, kv := range strings.Fields(labels) {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func names(f map[string]*dto.MetricFamily) string {
	var out []string
	for n := range f {
		if !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}
