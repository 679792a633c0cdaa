package rest_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
// first bytes (an HTTP/2 preface goes to grpc.Server.Serve, anything else to net/http). The
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
	sn := newSniffer(listen(b))
	gSniff := newGRPC()
	go func() { _ = gSniff.Serve(sn.grpc) }()
	b.Cleanup(gSniff.Stop)
	viaSniff := start(b, newREST(b, rest.WithListener(sn.http)))
	b.Cleanup(func() { _ = sn.Close() })

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

// sniffer splits one listener into two by each connection's first bytes: the HTTP/2
// client preface (which every gRPC client sends first) goes to grpc, anything else to
// http. It is the connection-sniffing way of sharing a port, kept here to be measured: it
// sends h2c HTTP clients to gRPC too, and under TLS it would have to sniff after the
// handshake.
type sniffer struct {
	net.Listener
	grpc, http *chanListener
	wg         sync.WaitGroup
}

const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func newSniffer(lis net.Listener) *sniffer {
	s := &sniffer{Listener: lis, grpc: newChanListener(lis.Addr()), http: newChanListener(lis.Addr())}
	s.wg.Go(s.accept)
	return s
}

func (s *sniffer) accept() {
	defer s.grpc.Close()
	defer s.http.Close()
	for {
		c, err := s.Listener.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() {
			br := bufio.NewReaderSize(c, 4096)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			head, err := br.Peek(len(http2Preface))
			_ = c.SetReadDeadline(time.Time{})
			to := s.http
			if err == nil && string(head) == http2Preface {
				to = s.grpc
			} else if err != nil && len(head) == 0 {
				_ = c.Close()
				return
			}
			to.put(&peekedConn{Conn: c, r: br})
		})
	}
}

func (s *sniffer) Close() error {
	err := s.Listener.Close()
	s.wg.Wait()
	return err
}

// peekedConn reads what its sniffer peeked before the rest of the connection.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed connections through a channel.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) put(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
