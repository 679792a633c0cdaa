package rest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/breaker/ratelimit"
	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/auth"
	"github.com/tianshu-go/tianshu/telemetry"
)

func TestServerRegistersOnceListeningAndLeavesBeforeItStopsAccepting(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	reg, err := file.New(ctx, t.TempDir(), file.WithLogger(quiet(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	ev := &events{}
	c := client(t, nil)
	var base string
	var srv *rest.Server
	rec := &recordingRegistrar{Registrar: reg, ev: ev}
	rec.onLeave = func() {
		// The server is still accepting: readiness must already say it is leaving.
		if a := getAnswer(t, c, base+rest.ReadinessPath); a.status == http.StatusServiceUnavailable {
			ev.add("readyz 503")
		} else {
			ev.add(fmt.Sprintf("readyz %d", a.status))
		}
		if srv.Ready() {
			ev.add("still ready")
		}
	}
	lis := &recordingListener{Listener: listen(t), ev: ev}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })
	srv = newServer(t, mux, rest.WithListener(lis), rest.WithRegistrar(rec), rest.WithService("greeter"),
		rest.WithDeregisterDelay(50*time.Millisecond))
	if _, err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	base = "http://" + lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	want := registry.Endpoint{Scheme: "http", Host: "127.0.0.1", Port: lis.Addr().(*net.TCPAddr).Port}
	waitFor(t, "the instance in the registry", func() bool {
		list, err := reg.GetService(ctx, "greeter")
		return err == nil && len(list) == 1 && slices.Contains(list[0].Endpoints, want)
	})
	if a := getAnswer(t, c, base+"/hello"); a.status != 200 || a.body != "hi" {
		t.Fatalf("GET /hello = %d %q", a.status, a.body)
	}
	if a := getAnswer(t, c, base+rest.ReadinessPath); a.status != 200 {
		t.Fatalf("readiness while serving = %d, want 200", a.status)
	}
	c.CloseIdleConnections()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if list, err := reg.GetService(ctx, "greeter"); err != nil || len(list) != 0 {
		t.Fatalf("after Shutdown the registry lists %v (err %v), want nothing", list, err)
	}
	got := ev.all()
	wantOrder := []string{"register", "readyz 503", "deregister", "listener closed"}
	if !slices.Equal(got, wantOrder) {
		t.Fatalf("events = %q, want %q", got, wantOrder)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20 s", what)
		}
	}
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	noLeaks(t)
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	srv := newServer(t, mux)
	base := start(t, srv)
	c := client(t, nil)
	got := make(chan answer, 1)
	go func() {
		resp, err := c.Get(base + "/slow")
		if err != nil {
			got <- answer{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- answer{status: resp.StatusCode, body: string(b)}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Shutdown(context.Background()) }()
	waitFor(t, "readiness to drop", func() bool { return !srv.Ready() })
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if a := <-got; a.status != 200 || a.body != "done" {
		t.Fatalf("the in-flight request got %d %q, want 200 done", a.status, a.body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}

func TestProbesAnswerWithoutAuthOrTelemetry(t *testing.T) {
	noLeaks(t)
	v := auth.StaticTokens(map[string]auth.Principal{"secret-token": {Subject: "ops"}})
	srv := newServer(t, http.NewServeMux(), rest.WithAuth(v))
	base := start(t, srv)
	c := client(t, nil)
	for _, p := range []string{rest.LivenessPath, rest.ReadinessPath} {
		if a := getAnswer(t, c, base+p); a.status != 200 || a.body != "ok\n" {
			t.Errorf("GET %s = %d %q, want 200 ok", p, a.status, a.body)
		}
	}
}

func TestErrorsAnswerTheJSONBody(t *testing.T) {
	noLeaks(t)
	bucket, err := ratelimit.NewTokenBucket(1e-6, 1) // one request, then none for days
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "item") })
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest) // the server answers 413 instead
			return
		}
		_, _ = fmt.Fprint(w, len(b))
	})
	mux.HandleFunc("POST /ignore", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "unread") })
	mux.HandleFunc("POST /swallow", func(_ http.ResponseWriter, r *http.Request) { _, _ = io.ReadAll(r.Body) })
	mux.Handle("GET /limited", rest.RateLimit(bucket)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "once")
	})))
	srv := newServer(t, mux, rest.WithMaxBodyBytes(1024))
	base := start(t, srv)
	c := client(t, nil)

	chunkedTo := func(path string, n int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, base+path, io.NopCloser(strings.NewReader(strings.Repeat("x", n))))
		req.ContentLength = -1 // unknown: sent chunked, so only reading finds the size
		return req
	}
	chunked := func(n int) *http.Request { return chunkedTo("/upload", n) }
	sizedTo := func(path string, n int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(strings.Repeat("x", n)))
		return req
	}
	sized := func(n int) *http.Request { return sizedTo("/upload", n) }
	getReq := func(path string) *http.Request { req, _ := http.NewRequest(http.MethodGet, base+path, nil); return req }
	del, _ := http.NewRequest(http.MethodDelete, base+"/items/1", nil)

	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		code   string // of the JSON body; "" for a plain answer
		body   string
	}{
		{"a known route answers", getReq("/items/7"), 200, "", "item"},
		{"an unknown route is 404 NOT_FOUND", getReq("/nowhere"), 404, "NOT_FOUND", ""},
		{"a wrong method is 405 with Allow", del, 405, "UNIMPLEMENTED", ""},
		{"a panic is 500 INTERNAL", getReq("/panic"), 500, "INTERNAL", ""},
		{"the server keeps serving after a panic", getReq("/items/8"), 200, "", "item"},
		{"a body at the limit is read whole", sized(1024), 200, "", "1024"},
		{"a declared body over the limit is 413", sized(1025), 413, "RESOURCE_EXHAUSTED", ""},
		{"a chunked body at the limit is read whole", chunked(1024), 200, "", "1024"},
		{"a chunked body over the limit is 413", chunked(4096), 413, "RESOURCE_EXHAUSTED", ""},
		{"a declared body over the limit is 413 though the handler never reads it", sizedTo("/ignore", 1025), 413, "RESOURCE_EXHAUSTED", ""},
		{"a handler that read the whole body and wrote nothing answers 200", chunkedTo("/swallow", 1024), 200, "", ""},
		{"a handler that hit the limit and wrote nothing answers 413", chunkedTo("/swallow", 4096), 413, "RESOURCE_EXHAUSTED", ""},
		{"the first request within the rate passes", getReq("/limited"), 200, "", "once"},
		{"a request over the rate is 429", getReq("/limited"), 429, "RESOURCE_EXHAUSTED", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, c, tc.req)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d (body %q)", a.status, tc.status, a.body)
			}
			if tc.code != "" && (a.err.Code != tc.code || a.err.Details == nil) {
				t.Fatalf("body = %q, want the JSON error body with code %s", a.body, tc.code)
			}
			if tc.body != "" && a.body != tc.body {
				t.Fatalf("body = %q, want %q", a.body, tc.body)
			}
			if tc.status == 405 && a.header.Get("Allow") == "" {
				t.Fatal("405 without an Allow header")
			}
		})
	}
}

func TestPanicIsLoggedOnce(t *testing.T) {
	noLeaks(t)
	var logged atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	srv := newServer(t, mux, rest.WithLogger(slog.New(countingHandler{&logged})))
	base := start(t, srv)
	c := client(t, nil)
	if a := getAnswer(t, c, base+"/panic"); a.status != 500 {
		t.Fatalf("status = %d, want 500", a.status)
	}
	if n := logged.Load(); n != 1 {
		t.Fatalf("the panic was logged %d times, want once", n)
	}
}

func TestAuthRefusesMissingAndInvalidTokens(t *testing.T) {
	noLeaks(t)
	secret := []byte("a-32-byte-or-longer-hmac-secret!!")
	v, err := auth.NewJWT(secret)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(key []byte, exp time.Duration) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(exp).Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.FromContext(r.Context())
		_, _ = io.WriteString(w, p.Subject)
	})
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "open") })
	srv := newServer(t, mux, rest.WithAuth(v, "GET /public"))
	base := start(t, srv)
	c := client(t, nil)
	forged := sign([]byte("another-32-byte-or-longer-secret!"), time.Hour)
	for _, tc := range []struct {
		name, path, header string
		status             int
		body               string
	}{
		{"no token is 401", "/me", "", 401, ""},
		{"a token of another key is 401", "/me", "Bearer " + forged, 401, ""},
		{"an expired token is 401", "/me", "Bearer " + sign(secret, -time.Hour), 401, ""},
		{"a header of another scheme is 401", "/me", "Basic YWxpY2U6cHc=", 401, ""},
		{"a good token passes with its principal", "/me", "Bearer " + sign(secret, time.Hour), 200, "alice"},
		{"a public route needs no token", "/public", "", 200, "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			a := do(t, c, req)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d (%q)", a.status, tc.status, a.body)
			}
			if tc.status == 401 {
				if a.err.Code != "UNAUTHENTICATED" || a.header.Get("WWW-Authenticate") == "" {
					t.Fatalf("401 answer %q with WWW-Authenticate %q, want the JSON body and the header", a.body, a.header.Get("WWW-Authenticate"))
				}
				if strings.Contains(a.body, strings.TrimPrefix(tc.header, "Bearer ")) && tc.header != "" {
					t.Fatalf("the answer quotes the token: %q", a.body)
				}
			}
			if tc.body != "" && a.body != tc.body {
				t.Fatalf("body = %q, want %q", a.body, tc.body)
			}
		})
	}
}

// protoHandler answers with the request's protocol, for the negotiation tests.
func protoMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /proto", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%d", r.ProtoMajor)
	})
	return mux
}

func TestH2CIsNegotiatedWithPriorKnowledge(t *testing.T) {
	noLeaks(t)
	base := start(t, newServer(t, protoMux()))
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	h2c := client(t, &http.Transport{Protocols: p})
	if a := getAnswer(t, h2c, base+"/proto"); a.status != 200 || a.body != "2" {
		t.Fatalf("h2c: %d %q, want 200 and HTTP/2", a.status, a.body)
	}
	if a := getAnswer(t, client(t, nil), base+"/proto"); a.body != "1" {
		t.Fatalf("HTTP/1.1 client: answered over HTTP/%s", a.body)
	}
}

func TestTLSServesHTTP2AndReloadsItsCertificate(t *testing.T) {
	noLeaks(t)
	crt := newCerts(t)
	ctx := context.Background()
	reg, err := file.New(ctx, t.TempDir(), file.WithLogger(quiet(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	srv := newServer(t, protoMux(), rest.WithTLS(rpc.TLSFiles{CertFile: crt.certFile, KeyFile: crt.keyFile}),
		rest.WithRegistrar(reg), rest.WithService("secure"))
	base := strings.Replace(start(t, srv), "http://", "https://", 1)
	if in := srv.Instance(); in == nil || in.Endpoints[0].Scheme != "https" {
		t.Fatalf("instance %v, want an https endpoint first", in)
	}
	serial := func() (string, int64) {
		tr := &http.Transport{TLSClientConfig: crt.clientTLS(), ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(base + "/proto")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	proto, first := serial()
	if proto != "2" || first != 100 {
		t.Fatalf("first connection: HTTP/%s with certificate %d, want HTTP/2 and 100", proto, first)
	}
	if a := getAnswer(t, client(t, &http.Transport{TLSClientConfig: crt.clientTLS()}), base+"/proto"); a.body != "1" {
		t.Fatalf("an HTTP/1.1-only TLS client was answered over HTTP/%s", a.body)
	}
	crt.issue(t, 101)
	if _, second := serial(); second != 101 {
		t.Fatalf("after rotation a new connection got certificate %d, want 101", second)
	}
}

func TestClientTraceContextIsTheServerSpansParent(t *testing.T) {
	noLeaks(t)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	tel := telemetry.NewHTTPServer(telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp),
		telemetry.WithTextMapPropagator(telemetry.Propagator()))
	var inHandler trace.SpanContext
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(_ http.ResponseWriter, r *http.Request) {
		inHandler = trace.SpanContextFromContext(r.Context())
	})
	base := start(t, newServer(t, mux, rest.WithTelemetry(tel)))
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodGet, base+"/items/42", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-"+spanID+"-01")
	if a := do(t, client(t, nil), req); a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	ended := spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want 1", len(ended))
	}
	s := ended[0]
	if s.Parent().TraceID().String() != traceID || s.Parent().SpanID().String() != spanID || !s.Parent().IsRemote() {
		t.Fatalf("span parent = %v, want the client's %s/%s", s.Parent(), traceID, spanID)
	}
	if s.Name() != "GET /items/{id}" || s.SpanKind() != trace.SpanKindServer {
		t.Fatalf("span %q of kind %v, want GET /items/{id}, server", s.Name(), s.SpanKind())
	}
	if inHandler.SpanID() != s.SpanContext().SpanID() {
		t.Fatal("the handler's context does not carry the server span")
	}
	attrs := attribute.NewSet(s.Attributes()...)
	if v, _ := attrs.Value("http.route"); v.AsString() != "/items/{id}" {
		t.Fatalf("http.route = %q", v.AsString())
	}
	if v, _ := attrs.Value("http.response.status_code"); v.AsInt64() != 200 {
		t.Fatalf("http.response.status_code = %v", v.AsInt64())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "http.server.request.duration" {
				for _, dp := range h.DataPoints {
					r, _ := dp.Attributes.Value("http.route")
					found = found || dp.Count == 1 && r.AsString() == "/items/{id}"
				}
			}
		}
	}
	if !found {
		t.Fatalf("no http.server.request.duration point for /items/{id}: %+v", rm)
	}
}

func TestGRPCAndHTTPShareAPortWhenAsked(t *testing.T) {
	noLeaks(t)
	g := grpc.NewServer()
	testpb.RegisterEchoServer(g, echotest.Server{ID: "one-port"})
	srv := newServer(t, protoMux(), rest.WithGRPC(g))
	base := start(t, srv)
	in := srv.Instance()
	if len(in.Endpoints) < 2 || in.Endpoints[1].Scheme != "grpc" {
		t.Fatalf("endpoints %v, want http and grpc on one port", in.Endpoints)
	}
	cc, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reply, err := testpb.NewEchoClient(cc).Echo(ctx, &testpb.EchoRequest{Payload: []byte("hi")})
	if err != nil || string(reply.GetPayload()) != "hi" || reply.GetServedBy() != "one-port" {
		t.Fatalf("Echo = %v, %v", reply, err)
	}
	if a := getAnswer(t, client(t, nil), base+"/proto"); a.status != 200 {
		t.Fatalf("HTTP beside gRPC: %d", a.status)
	}
}

func TestUserErrors(t *testing.T) {
	noLeaks(t)
	mux := http.NewServeMux()
	for _, tc := range []struct {
		name string
		addr string
		mux  *http.ServeMux
		opts []rest.ServerOption
		want error
	}{
		{"a nil mux", "127.0.0.1:0", nil, nil, rest.ErrInvalidOption},
		{"no address", "", mux, nil, rest.ErrInvalidOption},
		{"a registrar without a service", ":0", mux, []rest.ServerOption{rest.WithRegistrar(registryStub{})}, rest.ErrInvalidOption},
		{"a zero body limit", ":0", mux, []rest.ServerOption{rest.WithMaxBodyBytes(0)}, rest.ErrInvalidOption},
		{"a negative timeout", ":0", mux, []rest.ServerOption{rest.WithTimeouts(0, time.Second, 0, time.Second)}, rest.ErrInvalidOption},
		{"a missing certificate", ":0", mux, []rest.ServerOption{rest.WithTLS(rpc.TLSFiles{CertFile: "/nonexistent.pem", KeyFile: "/nonexistent.key"})}, rpc.ErrInvalidTLS},
		{"TLS without a key", ":0", mux, []rest.ServerOption{rest.WithTLS(rpc.TLSFiles{CertFile: "/x.pem"})}, rpc.ErrInvalidTLS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rest.NewServer(tc.addr, tc.mux, tc.opts...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewServer = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("a malformed address fails Listen", func(t *testing.T) {
		srv := newServer(t, mux)
		srv2, err := rest.NewServer("127.0.0.1:notaport", mux)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv2.Listen(context.Background()); !errors.Is(err, rest.ErrListen) {
			t.Fatalf("Listen = %v, want ErrListen", err)
		}
		if err := srv.Serve(); !errors.Is(err, rest.ErrNotListening) {
			t.Fatalf("Serve before Listen = %v, want ErrNotListening", err)
		}
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(); !errors.Is(err, rest.ErrServerStopped) {
			t.Fatalf("Serve after Shutdown = %v, want ErrServerStopped", err)
		}
	})
	t.Run("an address in use fails Listen", func(t *testing.T) {
		lis := listen(t)
		defer lis.Close()
		srv, err := rest.NewServer(lis.Addr().String(), mux)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Listen(context.Background()); !errors.Is(err, rest.ErrListen) {
			t.Fatalf("Listen = %v, want ErrListen", err)
		}
	})
	t.Run("a failed deregistration is Shutdown's error", func(t *testing.T) {
		srv := newServer(t, mux, rest.WithRegistrar(registryStub{leaveErr: errors.New("backend down")}), rest.WithService("s"))
		if _, err := srv.Listen(context.Background()); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve() }()
		waitFor(t, "readiness", srv.Ready)
		if err := srv.Shutdown(context.Background()); !errors.Is(err, rpc.ErrDeregister) {
			t.Fatalf("Shutdown = %v, want rpc.ErrDeregister", err)
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
	})
}

type registryStub struct{ leaveErr error }

func (registryStub) Register(context.Context, *registry.Instance) error { return nil }
func (r registryStub) Deregister(context.Context, *registry.Instance) error {
	return r.leaveErr
}

// countingHandler counts the records logged at Error.
type countingHandler struct{ n *atomic.Int32 }

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// headProvider is an SDK provider that tells telemetry its sampling rule, as the one
// tracing.Setup builds does, so that the HTTP server takes its own fast path.
type headProvider struct {
	*sdktrace.TracerProvider
	head *telemetry.HeadSampler
}

func (p *headProvider) HeadSampler() *telemetry.HeadSampler { return p.head }

func TestHeadSampledTraceFollowsTheCallersDecision(t *testing.T) {
	noLeaks(t)
	spans := tracetest.NewSpanRecorder()
	sdk := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithIDGenerator(telemetry.IDGenerator{}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())))
	t.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	tp := &headProvider{TracerProvider: sdk}
	tp.head = telemetry.NewHeadSampler(1, tp)
	tel := telemetry.NewHTTPServer(telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator()))
	var inHandler atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(_ http.ResponseWriter, r *http.Request) {
		inHandler.Store(trace.SpanContextFromContext(r.Context()))
	})
	base := start(t, newServer(t, mux, rest.WithTelemetry(tel)))
	c := client(t, nil)
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, tc := range []struct {
		name, flags string
		recorded    int
	}{
		{"a sampled caller's request is recorded as its child", "01", 1},
		{"an unsampled caller's request is not recorded but keeps its trace", "00", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans.Reset()
			req, _ := http.NewRequest(http.MethodGet, base+"/items/1", nil)
			req.Header.Set("traceparent", "00-"+traceID+"-"+spanID+"-"+tc.flags)
			if a := do(t, c, req); a.status != 200 {
				t.Fatalf("status %d", a.status)
			}
			if sc := inHandler.Load().(trace.SpanContext); sc.TraceID().String() != traceID || sc.SpanID().String() == spanID {
				t.Fatalf("the handler runs in %v, want a child span in trace %s", sc, traceID)
			}
			ended := spans.Ended()
			if len(ended) != tc.recorded {
				t.Fatalf("%d spans recorded, want %d", len(ended), tc.recorded)
			}
			if tc.recorded == 1 && ended[0].Parent().SpanID().String() != spanID {
				t.Fatalf("parent %v, want the caller's span %s", ended[0].Parent(), spanID)
			}
		})
	}
}

func TestWithoutATracerTheCallersContextStillReachesTheHandler(t *testing.T) {
	noLeaks(t)
	tel := telemetry.NewHTTPServer(telemetry.WithTracerProvider(tracenoop.NewTracerProvider()),
		telemetry.WithTextMapPropagator(telemetry.Propagator()))
	var inHandler atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(_ http.ResponseWriter, r *http.Request) {
		inHandler.Store(trace.SpanContextFromContext(r.Context()))
	})
	base := start(t, newServer(t, mux, rest.WithTelemetry(tel)))
	req, _ := http.NewRequest(http.MethodGet, base+"/x", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if a := do(t, client(t, nil), req); a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	sc := inHandler.Load().(trace.SpanContext)
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("the handler runs in %v, want the caller's span context to pass on", sc)
	}
}

func TestAPanicAfterTheHeadersBreaksTheConnectionAndTheServerGoesOn(t *testing.T) {
	noLeaks(t)
	var logged atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /half", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "the first part")
		w.(http.Flusher).Flush()
		panic("boom")
	})
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	base := start(t, newServer(t, mux, rest.WithLogger(slog.New(countingHandler{&logged}))))
	c := client(t, nil)
	resp, err := c.Get(base + "/half")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("status %d, read error %v: want the 200 already sent, then a broken body", resp.StatusCode, err)
	}
	if a := getAnswer(t, c, base+"/ok"); a.status != 200 {
		t.Fatalf("after the panic: %d", a.status)
	}
	if n := logged.Load(); n != 1 {
		t.Fatalf("the panic was logged %d times, want once", n)
	}
}

// flakyRegistrar fails the first failures registrations.
type flakyRegistrar struct {
	registryStub
	failures int32
	calls    atomic.Int32
}

func (r *flakyRegistrar) Register(context.Context, *registry.Instance) error {
	if r.calls.Add(1) <= r.failures {
		return errors.New("registry unreachable")
	}
	return nil
}

func TestRegistrationIsRetriedWhileTheServerServes(t *testing.T) {
	noLeaks(t)
	reg := &flakyRegistrar{failures: 2}
	srv := newServer(t, protoMux(), rest.WithRegistrar(reg), rest.WithService("retried"))
	base := start(t, srv)
	if a := getAnswer(t, client(t, nil), base+"/proto"); a.status != 200 {
		t.Fatalf("while the registry fails: %d", a.status)
	}
	waitFor(t, "a third registration attempt", func() bool { return reg.calls.Load() >= 3 })
}

func TestShutdownClosesAGivenListenerNeverServed(t *testing.T) {
	noLeaks(t)
	ev := &events{}
	lis := &recordingListener{Listener: listen(t), ev: ev}
	srv := newServer(t, protoMux(), rest.WithListener(lis))
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ev.all(); !slices.Equal(got, []string{"listener closed"}) {
		t.Fatalf("events %q, want the listener closed", got)
	}
}

func TestAHandlerCanHijackTheConnection(t *testing.T) {
	noLeaks(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /raw", func(w http.ResponseWriter, _ *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nraw")
		_ = rw.Flush()
	})
	base := start(t, newServer(t, mux))
	if a := getAnswer(t, client(t, nil), base+"/raw"); a.status != 200 || a.body != "raw" {
		t.Fatalf("hijacked answer %d %q", a.status, a.body)
	}
}
