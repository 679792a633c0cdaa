package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawExchange writes req on a new connection to the gateway at addr and returns the status
// line it answers with ("" when it closes the connection without one) and the rest.
func rawExchange(t *testing.T, addr, req string) (statusLine, rest string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	// The rest of the answer, without waiting for a keep-alive connection to close.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	b, _ := io.ReadAll(io.LimitReader(br, 4096))
	return strings.TrimSpace(line), string(b)
}

func TestBadInputNeverReachesTheUpstream(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: public
      match: {path: {prefix: /public}}
      target: {urls: [%q]}
`, up.srv.URL))
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct {
		name, req string
		want      string // status code at the start of the status line; "" for a closed connection
	}{
		{"oversized headers",
			"GET /public/x HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", "431"},
		{"two Content-Lengths that differ",
			"POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", "400"},
		{"a Transfer-Encoding other than chunked",
			"POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "501"},
		{"bad chunked encoding",
			"POST /public/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "400"},
		{"dot segments leaving the route",
			"GET /public/../admin HTTP/1.1\r\nHost: a\r\n\r\n", "404"},
		{"encoded dot segments leaving the route",
			"GET /public/%2e%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n", "404"},
		{"an encoded slash",
			"GET /public%2F..%2Fadmin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"an encoded backslash",
			"GET /public/..%5Cadmin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"a request target that is not a path",
			"GET * HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"a literal backslash",
			"GET /public/..\\admin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
		{"a header with a bad byte",
			"GET /public/x HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", "400"},
		{"no Host header",
			"GET /public/x HTTP/1.1\r\n\r\n", "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.hits.Load()
			line, rest := rawExchange(t, addr, tc.req)
			got := ""
			if f := strings.Fields(line); len(f) > 1 {
				got = f[1]
			}
			if got != tc.want {
				t.Errorf("answered %q, want %s", line, tc.want)
			}
			if n := up.hits.Load() - before; n != 0 {
				t.Errorf("%d requests reached the upstream", n)
			}
			if got == "400" || got == "404" {
				if ct := strings.Contains(rest, "application/json"); ct && !strings.Contains(rest, `"code"`) {
					t.Errorf("a JSON answer without the error body: %q", rest)
				}
			}
		})
	}
}

// TestContentLengthWithTransferEncodingSmugglesNothing sends a request with both framings
// and a second request hidden in its body by Content-Length's count. net/http follows RFC
// 9112 §6.3: Transfer-Encoding wins and Content-Length is removed, so the gateway sees an
// empty chunked body followed by what looks like a request of its own. RFC 9112 §6.1 asks
// the server to close the connection after answering such a request: the hidden bytes are
// never read as a request, and nothing reaches an upstream under a framing the gateway did
// not read.
func TestContentLengthWithTransferEncodingSmugglesNothing(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: public
      match: {path: {prefix: /}}
      target: {urls: [%q]}
`, up.srv.URL))
	req := "POST /public/x HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n"
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	// Everything until the gateway closes the connection: a deadline here means it did not.
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the connection stayed open: %v after %q", err, b)
	}
	answer := string(b)
	if !strings.HasPrefix(answer, "HTTP/1.1 200") || !strings.Contains(answer, `"body":""`) {
		t.Errorf("the first request: %q, want 200 with an empty body upstream", answer)
	}
	if n := strings.Count(answer, "HTTP/1.1 "); n != 1 {
		t.Errorf("%d answers, want 1 (the hidden request must not be read): %q", n, answer)
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("the upstream saw %d requests, want 1", n)
	}
}

func TestSlowlorisIsCut(t *testing.T) {
	up := startEcho(t, "up")
	g, _ := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: public
      match: {path: {prefix: /}}
      target: {urls: [%q]}
`, up.srv.URL))
	// A server of its own with a short header timeout, to see the cut within the test.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.HTTPServer("")
	srv.ReadHeaderTimeout = 300 * time.Millisecond
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()

	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
	// One header byte at a time, slower than the timeout allows for the whole.
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		time.Sleep(50 * time.Millisecond)
		_, werr = io.WriteString(c, "X")
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			werr = err
		}
	}
	if werr == nil {
		t.Fatalf("the connection was still open after %v of trickled headers", time.Since(start))
	}
	t.Logf("connection cut after %v: %v", time.Since(start).Round(time.Millisecond), werr)
	if up.hits.Load() != 0 {
		t.Errorf("a slowloris request reached the upstream")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
