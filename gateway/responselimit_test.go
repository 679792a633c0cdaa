package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/gateway"
)

// bigUpstream answers GET /fixed/<n> with n bytes and a Content-Length, and GET /stream/<n>
// with n bytes in chunks of 1,000 flushed one by one, without one.
func bigUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, num, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		n, _ := strconv.Atoi(num)
		body := bytes.Repeat([]byte("x"), n)
		if kind == "fixed" {
			w.Header().Set("Content-Length", num)
			_, _ = w.Write(body)
			return
		}
		for len(body) > 0 {
			k := min(1000, len(body))
			if _, err := w.Write(body[:k]); err != nil {
				return
			}
			http.NewResponseController(w).Flush() //nolint:errcheck // a test upstream
			body = body[k:]
		}
	}))
	t.Cleanup(up.Close)
	return up
}

// records is a slog handler that keeps the messages of the records it gets.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	h.msgs = append(h.msgs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func (h *records) matching(s string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.msgs {
		if strings.Contains(m, s) {
			out = append(out, m)
		}
	}
	return out
}

func limitDoc(upstream string) string {
	return fmt.Sprintf("gateway:\n  routes:\n"+
		"    - {name: capped, match: {path: {prefix: /capped}}, target: {urls: [%q]}, rewrite: {prefix: /}, maxResponseBytes: 5000}\n"+
		"    - {name: open, match: {path: {prefix: /open}}, target: {urls: [%q]}, rewrite: {prefix: /}}\n", upstream, upstream)
}

// TestResponseLimitByContentLength: an answer whose Content-Length is over the route's
// limit is refused with 502 and the JSON error body before any of it reaches the client;
// one at the limit, and any on a route without a limit, pass whole.
func TestResponseLimitByContentLength(t *testing.T) {
	up := bigUpstream(t)
	_, base := newGateway(t, limitDoc(up.URL), gateway.WithLogger(quiet()))
	got := do(t, nil, "GET", base+"/capped/fixed/5001", nil, "")
	if got.status != http.StatusBadGateway || got.err.Code != "RESOURCE_EXHAUSTED" ||
		!strings.Contains(got.err.Message, "5001 bytes is over the route's limit of 5000") {
		t.Fatalf("over the limit: %d with %d bytes (%+v), want 502 RESOURCE_EXHAUSTED naming the sizes", got.status, len(got.body), got.err)
	}
	if got := do(t, nil, "GET", base+"/capped/fixed/5000", nil, ""); got.status != 200 || len(got.body) != 5000 {
		t.Fatalf("at the limit: %d with %d bytes, want 200 with 5000", got.status, len(got.body))
	}
	if got := do(t, nil, "HEAD", base+"/capped/fixed/9000", nil, ""); got.status != 200 {
		t.Fatalf("HEAD of a large body: %d, want 200 (no body is sent)", got.status)
	}
	if got := do(t, nil, "GET", base+"/open/fixed/20000", nil, ""); got.status != 200 || len(got.body) != 20000 {
		t.Fatalf("without a limit: %d with %d bytes, want 200 with 20000", got.status, len(got.body))
	}
}

// TestResponseLimitWhileStreaming: an answer without a Content-Length that grows past the
// limit is cut, over HTTP/1.1 (the connection closed before the last chunk) and over
// HTTP/2 (the stream reset), so that no client takes it for complete; the cuts are logged
// once for the route, not once per response.
func TestResponseLimitWhileStreaming(t *testing.T) {
	up := bigUpstream(t)
	logs := &records{}
	_, base := newGateway(t, limitDoc(up.URL), gateway.WithLogger(slog.New(logs)))
	h2 := &http.Transport{Protocols: new(http.Protocols)}
	h2.Protocols.SetUnencryptedHTTP2(true)
	defer h2.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		c    *http.Client
	}{{"HTTP/1.1", &http.Client{Transport: &http.Transport{}}}, {"h2c", &http.Client{Transport: h2}}} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.c.CloseIdleConnections()
			resp, err := tc.c.Get(base + "/capped/stream/20000")
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil || len(body) > 5000 {
				t.Fatalf("got %d bytes and %v, want at most 5000 and an error", len(body), err)
			}
			resp, err = tc.c.Get(base + "/capped/stream/5000")
			if err != nil {
				t.Fatal(err)
			}
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || len(body) != 5000 {
				t.Fatalf("at the limit: %d bytes, %v; want all 5000", len(body), err)
			}
		})
	}
	if got := logs.matching("responses cut"); len(got) != 1 || !strings.Contains(got[0], "route=capped") ||
		!strings.Contains(got[0], "err=") {
		t.Errorf("log records of cuts: %q, want one naming the route and the error", got)
	}
}

// TestResponseLimitSparesUpgrades: an upgraded connection on a route with a response
// limit carries more than the limit both ways.
func TestResponseLimitSparesUpgrades(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(c, brw)
	}))
	defer up.Close()
	_, base := newGateway(t, fmt.Sprintf("gateway:\n  routes:\n    - {name: ws, match: {path: {prefix: /ws}}, target: {urls: [%q]}, maxResponseBytes: 10}\n", up.URL))
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("answered %v, %v; want 101", resp, err)
	}
	msg := strings.Repeat("0123456789", 10)
	_, _ = io.WriteString(c, msg)
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo of 100 bytes: %q, %v", buf, err)
	}
}

func TestResponseLimitRefusedWhereItCannotWork(t *testing.T) {
	for _, tc := range []struct{ route, want string }{
		{`{name: a, match: {path: {exact: /}}, target: {service: a}, maxResponseBytes: -1}`, "routes[0].maxResponseBytes: -1"},
		{`{name: a, match: {path: {exact: /}}, target: {service: a, protocol: grpc}, maxResponseBytes: 10}`, "routes[0].maxResponseBytes: not for gRPC"},
	} {
		_, err := gateway.Parse([]byte("gateway:\n  routes:\n    - " + tc.route + "\n"))
		if !errors.Is(err, gateway.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error wrapping gateway.ErrInvalid containing %q", tc.route, err, tc.want)
		}
	}
}
