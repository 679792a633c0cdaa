package telemetry_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
)

// echoServer answers with the payload, or, for a payload "code:N", with status code N.
type echoServer struct {
	testpb.UnimplementedEchoServer
	id   string
	next testpb.EchoClient // when set, each call is forwarded there first
}

func (s *echoServer) Echo(ctx context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	if p, ok := strings.CutPrefix(string(req.Payload), "code:"); ok {
		n, _ := strconv.Atoi(p)
		return nil, status.Error(codes.Code(n), "asked for "+codes.Code(n).String())
	}
	if s.next != nil {
		if _, err := s.next.Echo(ctx, req); err != nil {
			return nil, err
		}
	}
	return &testpb.EchoReply{Payload: req.Payload, ServedBy: s.id}, nil
}

// startEcho serves srv on a loopback port with sopts and returns a client dialled with
// dopts; both stop when the test ends.
func startEcho(tb testing.TB, srv testpb.EchoServer, sopts []grpc.ServerOption, dopts []grpc.DialOption) testpb.EchoClient {
	tb.Helper()
	return dial(tb, serveEcho(tb, srv, sopts...), dopts...)
}

// serveEcho serves srv on a loopback port until the test ends and returns its address.
func serveEcho(tb testing.TB, srv testpb.EchoServer, sopts ...grpc.ServerOption) string {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer(sopts...)
	testpb.RegisterEchoServer(s, srv)
	go func() { _ = s.Serve(lis) }()
	tb.Cleanup(s.Stop)
	return lis.Addr().String()
}

func dial(tb testing.TB, addr string, dopts ...grpc.DialOption) testpb.EchoClient {
	tb.Helper()
	return testpb.NewEchoClient(dialConn(tb, addr, dopts...))
}

// waitSpans waits until rec holds n ended spans: a server ends its span after its answer
// is on the wire, so the caller may see the answer first.
func waitSpans(t *testing.T, rec *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Ended()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return rec.Ended()
}

func listenLoopback(tb testing.TB) net.Listener {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return lis
}

func dialConn(tb testing.TB, addr string, dopts ...grpc.DialOption) *grpc.ClientConn {
	tb.Helper()
	cc, err := grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials())}, dopts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cc.Close() })
	return cc
}

// meterProvider returns an SDK meter provider, shut down when the test ends, and the reader
// that collects what it records.
func meterProvider(tb testing.TB) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, r
}

// collect returns what r has gathered so far.
func collect(tb testing.TB, r sdkmetric.Reader) metricdata.ResourceMetrics {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	return rm
}

// metrics returns the metrics of every scope in rm.
func metrics(rm metricdata.ResourceMetrics) []metricdata.Metrics {
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		out = append(out, sm.Metrics...)
	}
	return out
}

// point is a data point of a float64 histogram, with the name of its metric.
type point struct {
	metric string
	metricdata.HistogramDataPoint[float64]
}

// points returns the points of the float64 histograms in rm called name, or of all of them
// when name is "".
func points(rm metricdata.ResourceMetrics, name string) []point {
	var out []point
	for _, m := range metrics(rm) {
		h, ok := m.Data.(metricdata.Histogram[float64])
		if !ok || name != "" && m.Name != name {
			continue
		}
		for _, dp := range h.DataPoints {
			out = append(out, point{metric: m.Name, HistogramDataPoint: dp})
		}
	}
	return out
}

// attr returns the value of p's attribute key as text, "" when p has none.
func (p point) attr(key attribute.Key) string {
	if v, ok := p.Attributes.Value(key); ok {
		return v.Emit()
	}
	return ""
}
