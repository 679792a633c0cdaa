package rest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/pairbench"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/telemetry"
)

// benchMux is the application both servers of a comparison run.
func benchMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+r.PathValue("id")+`"}`)
	})
	return mux
}

// serveBare serves h on a bare http.Server on loopback until the benchmark ends.
func serveBare(b *testing.B, h http.Handler) string {
	b.Helper()
	lis := listen(b)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + lis.Addr().String()
}

// httpCaller returns a call that GETs url over keep-alive connections and checks the status.
func httpCaller(b *testing.B, url string, conns int) func() error {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	return func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// BenchmarkServerStack compares, over loopback HTTP/1.1 at concurrency 32, the server's
// whole chain (probes, telemetry on OpenTelemetry's no-op globals, recovery, body limit, the
// JSON-error mux) with a bare http.Server running the same ServeMux. x-bare is the median
// ratio of throughputs; allocs/op count both client and server.
func BenchmarkServerStack(b *testing.B) {
	bare := httpCaller(b, serveBare(b, benchMux())+"/items/7", 32)
	srv, err := rest.NewServer("127.0.0.1:0", benchMux(), rest.WithDeregisterDelay(0), rest.WithLogger(quiet(b)))
	if err != nil {
		b.Fatal(err)
	}
	subject := httpCaller(b, start(b, srv)+"/items/7", 32)
	pairbench.Compare(b, pairbench.Options{Concurrency: 32, Unit: "bare"}, bare, subject)
}

// BenchmarkServerHandler measures the chain without the network, with httptest: the cost
// and allocations the server adds to a request, against the bare ServeMux and against
// httperr.Mux alone (the JSON errors the server needs anyway).
func BenchmarkServerHandler(b *testing.B) {
	srv, err := rest.NewServer("127.0.0.1:0", benchMux(), rest.WithLogger(quiet(b)))
	if err != nil {
		b.Fatal(err)
	}
	// A provider as tracing.Setup builds it, sampling no request (the unsampled 99 of a 1%
	// rate) or every request (recorded by the SDK, exported nowhere).
	headed := func(ratio float64) *rest.Server {
		sdk := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(telemetry.IDGenerator{}),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
		b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
		tp := &headProvider{TracerProvider: sdk}
		tp.head = telemetry.NewHeadSampler(ratio, tp)
		tel := telemetry.NewHTTPServer(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator()))
		return must(rest.NewServer("127.0.0.1:0", benchMux(), rest.WithTelemetry(tel)))
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare-mux", benchMux()},
		{"rest-server", srv},
		{"rest-server-no-telemetry", must(rest.NewServer("127.0.0.1:0", benchMux(), rest.WithoutTelemetry()))},
		{"rest-server-unsampled", headed(0)},
		{"rest-server-sampled", headed(1)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/items/7", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				tc.h.ServeHTTP(w, req)
			}
		})
	}
}

func must(s *rest.Server, err error) *rest.Server {
	if err != nil {
		panic(err)
	}
	return s
}

// discardWriter is a ResponseWriter that keeps nothing, so that the benchmark counts the
// handler's allocations only.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkOnePort compares the ways of serving gRPC and HTTP from one process: separate
// ports (the default: rpc.Server and rest.Server each on a listener), one port through
// grpc.Server.ServeHTTP (rest.WithGRPC), and one port split by sniffing each connection's
// first bytes (rest.SharePort: an HTTP/2 preface goes to grpc.Server.Serve, anything else to
// net/http). The
// gRPC cases make unary calls of 1 KiB at concurrency 100 over one connection; the HTTP cases
// make HTTP/1.1 GETs at concurrency 32. x-separate is each way's median throughput ratio to
// separate ports.
func BenchmarkOnePort(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 1024)
	newGRPC := func() *grpc.Server {
		g := grpc.NewServer()
		testpb.RegisterEchoServer(g, echotest.Server{ID: "bench"})
		return g
	}
	grpcCaller := func(b *testing.B, addr string) func() error {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cc.Close() })
		ec := testpb.NewEchoClient(cc)
		return func() error {
			_, err := ec.Echo(context.Background(), &testpb.EchoRequest{Payload: payload})
			return err
		}
	}
	newREST := func(b *testing.B, opts ...rest.ServerOption) *rest.Server {
		opts = append([]rest.ServerOption{rest.WithDeregisterDelay(0), rest.WithLogger(quiet(b))}, opts...)
		srv, err := rest.NewServer("127.0.0.1:0", benchMux(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		return srv
	}

	// Separate ports.
	gSep := newGRPC()
	gLis := listen(b)
	go func() { _ = gSep.Serve(gLis) }()
	b.Cleanup(gSep.Stop)
	httpSep := start(b, newREST(b)) + "/items/7"

	// One port through ServeHTTP.
	viaHandler := start(b, newREST(b, rest.WithGRPC(newGRPC())))

	// One port by sniffing.
	port := rest.SharePort(listen(b))
	gSniff := newGRPC()
	go func() { _ = gSniff.Serve(port.GRPC()) }()
	b.Cleanup(gSniff.Stop)
	viaSniff := start(b, newREST(b, rest.WithListener(port.HTTP())))

	grpcBase := grpcCaller(b, gLis.Addr().String())
	httpBase := httpCaller(b, httpSep, 32)
	b.Run("grpc/servehttp", func(b *testing.B) {
		pairbench.Compare(b, pairbench.Options{Unit: "separate"}, grpcBase,
			grpcCaller(b, strings.TrimPrefix(viaHandler, "http://")))
	})
	b.Run("grpc/sniff", func(b *testing.B) {
		pairbench.Compare(b, pairbench.Options{Unit: "separate"}, grpcBase,
			grpcCaller(b, strings.TrimPrefix(viaSniff, "http://")))
	})
	b.Run("http/servehttp", func(b *testing.B) {
		pairbench.Compare(b, pairbench.Options{Concurrency: 32, Unit: "separate"}, httpBase,
			httpCaller(b, viaHandler+"/items/7", 32))
	})
	b.Run("http/sniff", func(b *testing.B) {
		pairbench.Compare(b, pairbench.Options{Concurrency: 32, Unit: "separate"}, httpBase,
			httpCaller(b, viaSniff+"/items/7", 32))
	})
}
