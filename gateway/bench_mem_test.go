package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/gateway"
)

func heapAndStack() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

// BenchmarkMemory reports the memory a route takes once compiled (1,000 routes like
// benchDoc's, JWT and a rate limit on one of them) and an idle keep-alive connection to
// the gateway takes (its goroutine's stack included), measured on the heap after GC.
func BenchmarkMemory(b *testing.B) {
	up := startEcho(b, "up")
	b.Run("per-route", func(b *testing.B) {
		c, err := gateway.Parse([]byte(benchDoc(up.srv.URL)))
		if err != nil {
			b.Fatal(err)
		}
		var per float64
		for b.Loop() {
			g, err := gateway.New(gateway.WithoutTelemetry())
			if err != nil {
				b.Fatal(err)
			}
			h0, _ := heapAndStack()
			if err := g.Apply(c); err != nil {
				b.Fatal(err)
			}
			h1, _ := heapAndStack()
			per = float64(int64(h1)-int64(h0)) / float64(len(c.Routes))
			runtime.KeepAlive(c)
			_ = g.Close()
		}
		b.ReportMetric(per, "B/route")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("per-idle-connection", func(b *testing.B) {
		_, base := newGateway(b, fmt.Sprintf("gateway:\n  routes:\n    - {name: a, match: {path: {prefix: /}}, target: {urls: [%q]}}\n", up.srv.URL))
		addr := strings.TrimPrefix(base, "http://")
		const n = 200
		var per, perStack float64
		for b.Loop() {
			h0, s0 := heapAndStack()
			conns := make([]net.Conn, 0, n)
			for range n {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				conns = append(conns, c)
			}
			h1, s1 := heapAndStack()
			per = float64(int64(h1)-int64(h0)) / n
			perStack = float64(int64(s1)-int64(s0)) / n
			for _, c := range conns {
				_ = c.Close()
			}
		}
		b.ReportMetric(per, "heap-B/conn")
		b.ReportMetric(perStack, "stack-B/conn")
		b.ReportMetric(0, "ns/op")
	})
}
