package metrics

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/callhist"
	"github.com/tianshu-go/tianshu/telemetry"
)

// scrape gathers reg as Prometheus would read it in the text format, without the
// _created lines (the instruments' start times differ by construction).
func scrape(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			if m.Histogram != nil {
				m.Histogram.CreatedTimestamp = nil
			}
		}
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestTheStoreScrapesAsTheSDKHistogramWould records the same values, some on bucket bounds
// and some past the last, into an SDK histogram and into a Store and compares the two
// scrapes line for line.
func TestTheStoreScrapesAsTheSDKHistogramWould(t *testing.T) {
	ctx := context.Background()
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	values := []float64{0.0001, 0.005, 0.0050001, 0.01, 0.3, 0.3, 1, 9.99, 10, 12, 0.02}
	sets := []attribute.Set{
		attribute.NewSet(attribute.String("rpc.method", "a.B/C"), attribute.String("rpc.response.status_code", "OK")),
		attribute.NewSet(attribute.String("rpc.method", "a.B/C"), attribute.String("rpc.response.status_code", "NOT_FOUND"),
			attribute.String("error.type", "NOT_FOUND")),
	}

	// The SDK's way: a view that matches nothing keeps NewPrometheus off the fast path.
	sdkProm, err := NewPrometheus(WithoutRuntimeMetrics(),
		WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "none"}, sdkmetric.Stream{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sdkProm.Shutdown(ctx) })
	if _, ok := sdkProm.MeterProvider().(callhist.Provider); ok {
		t.Fatal("a Prometheus with views aggregates durations itself; views would not apply to them")
	}
	h, err := sdkProm.MeterProvider().Meter("scope", metric.WithSchemaURL("https://schema")).Float64Histogram(
		"rpc.server.call.duration", metric.WithUnit("s"), metric.WithDescription("How long calls take."),
		metric.WithExplicitBucketBoundaries(bounds...))
	if err != nil {
		t.Fatal(err)
	}

	fastProm, err := NewPrometheus(WithoutRuntimeMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fastProm.Shutdown(ctx) })
	p, ok := fastProm.MeterProvider().(callhist.Provider)
	if !ok {
		t.Fatal("NewPrometheus's provider does not aggregate call durations")
	}
	in := p.CallDurations().Instrument(callhist.Desc{Scope: "scope", SchemaURL: "https://schema",
		Name: "rpc.server.call.duration", Unit: "s", Description: "How long calls take.", Bounds: bounds})
	in.Series(attribute.NewSet(attribute.String("rpc.method", "never/Called")))

	for i, v := range values {
		set := sets[i%len(sets)]
		h.Record(ctx, v, metric.WithAttributeSet(set))
		in.Series(set).Record(v, callhist.Bucket(bounds, v))
	}

	want, got := scrape(t, sdkProm.Registry()), scrape(t, fastProm.Registry())
	if !strings.Contains(want, `rpc_server_call_duration_seconds_bucket{otel_scope_name="scope"`) {
		t.Fatalf("the SDK's scrape has no duration buckets:\n%s", want)
	}
	if got != want {
		t.Errorf("the store's scrape differs from the SDK's\n--- SDK:\n%s\n--- store:\n%s", want, got)
	}
	if strings.Contains(got, "never/Called") {
		t.Error("a series never recorded is scraped")
	}
}

// TestAnExemplarCarriesTheSampledTrace checks that a sampled measurement is kept as its
// bucket's exemplar with its trace and span IDs.
func TestAnExemplarCarriesTheSampledTrace(t *testing.T) {
	var st callhist.Store
	in := st.Instrument(callhist.Desc{Scope: "s", Name: "d", Unit: "s", Bounds: []float64{1}})
	s := in.Series(attribute.NewSet())
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2},
		TraceFlags: trace.FlagsSampled})
	s.Record(0.5, 0)
	s.RecordExemplar(2, 1, sc)
	sm, err := producer{&st}.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sm) != 1 || len(sm[0].Metrics) != 1 {
		t.Fatalf("produced %+v, want one scope with one metric", sm)
	}
	hist, ok := sm[0].Metrics[0].Data.(metricdata.Histogram[float64])
	if !ok || len(hist.DataPoints) != 1 {
		t.Fatalf("produced %+v, want one histogram point", sm[0].Metrics[0].Data)
	}
	dp := hist.DataPoints[0]
	lo, _ := dp.Min.Value()
	hi, _ := dp.Max.Value()
	if dp.Count != 2 || dp.Sum != 2.5 || lo != 0.5 || hi != 2 || len(dp.Exemplars) != 1 {
		t.Fatalf("point %+v, want count 2, sum 2.5, min 0.5, max 2 and one exemplar", dp)
	}
	e := dp.Exemplars[0]
	if e.Value != 2 || trace.TraceID(e.TraceID) != sc.TraceID() || trace.SpanID(e.SpanID) != sc.SpanID() {
		t.Errorf("exemplar %+v, want value 2 in trace %s span %s", e, sc.TraceID(), sc.SpanID())
	}
}

// TestCallsScrapeTheSameSeriesEitherWay makes the same calls through telemetry's handlers
// on a Prometheus that aggregates durations itself and on one that leaves them to the SDK,
// and compares the duration series: names, labels and counts (the durations themselves
// differ from run to run).
func TestCallsScrapeTheSameSeriesEitherWay(t *testing.T) {
	ctx := context.Background()
	series := func(opts ...Option) map[string]uint64 {
		prom, err := NewPrometheus(append(opts, WithoutRuntimeMetrics())...)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = prom.Shutdown(ctx) }()
		hopts := []telemetry.Option{telemetry.WithMeterProvider(prom.MeterProvider()),
			telemetry.WithTracerProvider(tracenoop.NewTracerProvider())}
		srvH, cliH := telemetry.NewServerHandler(hopts...), telemetry.NewClientHandler(hopts...)
		defer func() { _, _ = srvH.Close(), cliH.Close() }()
		for _, full := range []string{"/a.B/C", "/a.B/D"} {
			for _, code := range []codes.Code{codes.OK, codes.OK, codes.NotFound, codes.Internal, 42} {
				handler := func(context.Context, any) (any, error) { return nil, status.Error(code, "x") }
				invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
					opts ...grpc.CallOption) error {
					_, err := srvH.UnaryServerInterceptor()(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, handler)
					return err
				}
				_ = cliH.UnaryClientInterceptor()(ctx, full, nil, nil, nil, invoker)
			}
		}
		httpH := telemetry.NewHTTPServer(hopts...)
		for _, st := range []int{200, 200, 503} {
			r := httptest.NewRequest("GET", "/orders/7", nil)
			ctx, rec := httpH.Start(r, "GET /orders/{id}")
			httpH.End(ctx, rec, st)
		}
		rt := telemetry.NewHTTPClient(hopts...).RoundTripper(stubTransport{})
		for _, path := range []string{"/ok", "/ok", "/missing"} {
			resp, err := rt.RoundTrip(httptest.NewRequest("GET", "http://orders"+path, nil))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
		}
		mfs, err := prom.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]uint64{}
		for _, mf := range mfs {
			if !strings.HasSuffix(mf.GetName(), "_duration_seconds") {
				continue
			}
			for _, m := range mf.Metric {
				var labels []string
				for _, l := range m.Label {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				got[mf.GetName()+"{"+strings.Join(labels, ",")+"} "+mf.GetHelp()] = m.Histogram.GetSampleCount()
			}
		}
		return got
	}
	want := series(WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "none"}, sdkmetric.Stream{})))
	got := series()
	// gRPC: two sides, two methods, four codes; HTTP: two statuses a side.
	if len(want) != 2*2*4+2+2 {
		t.Fatalf("the SDK's scrape has %d duration series, want 20: %v", len(want), want)
	}
	if !maps.Equal(got, want) {
		t.Errorf("series differ\nSDK:   %v\nstore: %v", want, got)
	}
}

// TestARecordedDurationIsTheCallsDuration checks the clock arithmetic of the fast path:
// a call whose handler sleeps 30 ms records at least that on both sides, and not minutes.
func TestARecordedDurationIsTheCallsDuration(t *testing.T) {
	ctx := context.Background()
	prom, err := NewPrometheus(WithoutRuntimeMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Shutdown(ctx) })
	hopts := []telemetry.Option{telemetry.WithMeterProvider(prom.MeterProvider()), telemetry.WithoutActiveCalls()}
	srvH, cliH := telemetry.NewServerHandler(hopts...), telemetry.NewClientHandler(hopts...)
	handler := func(context.Context, any) (any, error) { time.Sleep(30 * time.Millisecond); return nil, nil }
	invoker := func(ctx context.Context, method string, req, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		_, err := srvH.UnaryServerInterceptor()(ctx, req, &grpc.UnaryServerInfo{FullMethod: method}, handler)
		return err
	}
	if err := cliH.UnaryClientInterceptor()(ctx, "/a.B/C", nil, nil, nil, invoker); err != nil {
		t.Fatal(err)
	}
	sms, err := producer{prom.MeterProvider().(callhist.Provider).CallDurations()}.Produce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sides int
	for _, sm := range sms {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				sides++
				if dp.Count != 1 || dp.Sum < 0.03 || dp.Sum > 60 {
					t.Errorf("%s: count %d, sum %vs; want one call of at least 30 ms", m.Name, dp.Count, dp.Sum)
				}
			}
		}
	}
	if sides != 2 {
		t.Errorf("%d series, want the client's and the server's", sides)
	}
}

// stubTransport answers 200, or 404 for /missing, without a network.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if r.URL.Path == "/missing" {
		rec.WriteHeader(http.StatusNotFound)
	}
	return rec.Result(), nil
}
