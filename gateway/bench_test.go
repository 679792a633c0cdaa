package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/telemetry"
)

// benchDoc is 1,000 routes, the one under test in the middle with JWT (HS256) and a rate
// limit far above what the benchmark sends, so that both are checked on every request.
func benchDoc(upstream string) string {
	var b strings.Builder
	b.WriteString("gateway:\n  routes:\n")
	for i := range 1000 {
		if i == 500 {
			fmt.Fprintf(&b, "    - {name: bench, match: {path: {template: \"/svc500/items/{id}\"}, methods: [GET]}, target: {urls: [%q]},"+
				" auth: {jwt: {secret: %s}}, rateLimit: {rate: 1000000000, burst: 1000000000}}\n", upstream, secret)
			continue
		}
		fmt.Fprintf(&b, "    - {name: r%d, match: {path: {prefix: /svc%d/api}}, target: {urls: [%q]}}\n", i, i, upstream)
	}
	return b.String()
}

// The nginx leg of BenchmarkVsReverseProxy: scripts/bench/gateway-nginx.sh starts nginx as
// a reverse proxy to the upstream address it gives the benchmark, and sets both.
const (
	envNginx    = "TIANSHU_BENCH_NGINX"    // nginx's host:port
	envUpstream = "TIANSHU_BENCH_UPSTREAM" // where the benchmark's upstream must listen
	// envGatewayBin is a built cmd/tianshu-gateway: with it the benchmark also runs the
	// gateway in a process of its own (benchDoc, access log to a file), as nginx runs.
	envGatewayBin = "TIANSHU_BENCH_GATEWAY_BIN"
	// envBareProxy makes the test binary a bare httputil.ReverseProxy serving on its value
	// and forwarding to envUpstream's (see TestMain): the out-of-process baseline, run with
	// envGatewayBin.
	envBareProxy = "TIANSHU_BENCH_BARE_PROXY"
)

type benchSetup struct {
	direct, bare, gw string
	bare2            string // a second bare proxy: the method's noise
	gwTel            string // the gateway with the command's telemetry (Prometheus metrics)
	nginx            string // empty without envNginx
	gwProc, bareProc string // empty without envGatewayBin
	token            string
}

// startBench starts one loopback upstream, a bare httputil.ReverseProxy to it and the
// gateway with benchDoc and access logs on (JSON, every request, to io.Discard), and
// finds nginx when envNginx names it.
func startBench(b *testing.B) benchSetup {
	b.Helper()
	body := strings.Repeat("x", 128)
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, body)
	})}
	addr, nginx := "127.0.0.1:0", os.Getenv(envNginx)
	if nginx != "" {
		if addr = os.Getenv(envUpstream); addr == "" {
			b.Fatalf("%s is set but %s is not: run scripts/bench/gateway-nginx.sh", envNginx, envUpstream)
		}
		nginx = "http://" + nginx
	}
	ulis, err := net.Listen("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = up.Serve(ulis) }()
	b.Cleanup(func() { _ = up.Close() })
	target, _ := url.Parse("http://" + ulis.Addr().String())

	rp, tr := bareProxy(target)
	blis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: rp}
	go func() { _ = bare.Serve(blis) }()
	b.Cleanup(func() { _ = bare.Close(); tr.CloseIdleConnections() })
	// A second bare proxy, the same in every way: its ratios to the first are the method's
	// own noise, which the gateway's figures are read against.
	rp2, tr2 := bareProxy(target)
	blis2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare2 := &http.Server{Handler: rp2}
	go func() { _ = bare2.Serve(blis2) }()
	b.Cleanup(func() { _ = bare2.Close(); tr2.CloseIdleConnections() })

	c, err := gateway.Parse([]byte(benchDoc(target.String())))
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)), 1))
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Apply(c); err != nil {
		b.Fatal(err)
	}
	// The same gateway with the telemetry tianshu-gateway runs with: Prometheus metrics per
	// route and upstream, spans through the global tracer provider (no-op here, as in a
	// command without tracing set up).
	prom, err := metrics.NewPrometheus(metrics.WithoutRuntimeMetrics())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = prom.Shutdown(context.Background()) })
	mp := telemetry.WithMeterProvider(prom.MeterProvider())
	gt, err := gateway.New(gateway.WithTelemetry(telemetry.NewHTTPServer(mp), telemetry.NewHTTPClient(mp)),
		gateway.WithAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)), 1))
	if err != nil {
		b.Fatal(err)
	}
	if err := gt.Apply(c); err != nil {
		b.Fatal(err)
	}
	s := benchSetup{direct: target.String(), bare: "http://" + blis.Addr().String(), bare2: "http://" + blis2.Addr().String(), gw: startGateway(b, g),
		gwTel: startGateway(b, gt), nginx: nginx, token: token(b, secret, time.Hour)}
	if nginx != "" {
		// nginx is a plain proxy here (its open-source build verifies no JWT), and a request
		// through it must reach this run's upstream, not a stale one.
		c := benchClient(1)
		fetch(b, c, nginx+"/svc500/items/1", s.token)
		c.CloseIdleConnections()
	}
	if bin := os.Getenv(envGatewayBin); bin != "" {
		dir := b.TempDir()
		cfg := filepath.Join(dir, "gateway.yaml")
		writeFile(b, cfg, benchDoc(target.String()))
		addr := freeAddr(b)
		s.gwProc = startProcess(b, addr, exec.Command(bin, "-config", cfg, "-listen", addr, "-admin", "",
			"-access-log", filepath.Join(dir, "access.log"), "-deregister-delay", "0s", "-grace", "1s"))
		addr = freeAddr(b)
		bare := exec.Command(os.Args[0])
		bare.Env = append(os.Environ(), envBareProxy+"="+addr, envUpstream+"="+target.Host)
		s.bareProc = startProcess(b, addr, bare)
		c := benchClient(1)
		fetch(b, c, s.gwProc+"/svc500/items/1", s.token)
		fetch(b, c, s.bareProc+"/svc500/items/1", s.token)
		c.CloseIdleConnections()
	}
	return s
}

// bareProxy is the baseline: httputil.ReverseProxy to target with a pool as large as the
// gateway's.
func bareProxy(target *url.URL) (*httputil.ReverseProxy, *http.Transport) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() }, Transport: tr}, tr
}

// serveBareProxy is the test binary's life when envBareProxy is set: the bare proxy alone,
// until it is killed.
func serveBareProxy(addr, upstream string) {
	rp, _ := bareProxy(&url.URL{Scheme: "http", Host: upstream})
	fmt.Fprintln(os.Stderr, (&http.Server{Addr: addr, Handler: rp}).ListenAndServe())
	os.Exit(1)
}

// freeAddr returns a loopback address free a moment ago, for a process to listen on.
func freeAddr(b *testing.B) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// startProcess starts cmd, which is to listen on addr, and returns its base URL once it
// accepts connections; the process is stopped when the benchmark ends.
func startProcess(b *testing.B, addr string, cmd *exec.Cmd) string {
	b.Helper()
	bin := cmd.Path
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("%s does not listen on %s: %v", bin, addr, err)
		}
	}
}

// legs are the paths a request takes in BenchmarkVsReverseProxy, in the order of each
// turn: straight to the upstream, the bare proxy, the gateway, and nginx when running.
func (s benchSetup) legs() []struct{ name, url string } {
	const path = "/svc500/items/1"
	l := []struct{ name, url string }{{"direct", s.direct + path}, {"bare", s.bare + path}, {"gw", s.gw + path},
		{"gwtel", s.gwTel + path}, {"bare2", s.bare2 + path}}
	if s.gwProc != "" {
		l = append(l, struct{ name, url string }{"bareproc", s.bareProc + path}, struct{ name, url string }{"gwproc", s.gwProc + path})
	}
	if s.nginx != "" {
		l = append(l, struct{ name, url string }{"nginx", s.nginx + path})
	}
	return l
}

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

func fetch(b *testing.B, c *http.Client, url, token string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d", url, resp.StatusCode)
	}
}

// BenchmarkVsReverseProxy compares the gateway (1,000 routes, JWT HS256 and a rate limit
// on the route, access logs on) with a bare httputil.ReverseProxy to the same loopback
// upstream, and, when scripts/bench/gateway-nginx.sh runs the benchmark, with nginx as a
// reverse proxy to it (envNginx), and the bare proxy and the gateway again each in a process
// of its own, as nginx is (envGatewayBin; "bareproc" and "gwproc", the gateway as the
// command tianshu-gateway, with its telemetry and a file access log), all in one run:
//
//   - latency: one client, each iteration a request straight to the upstream and one
//     through each proxy, in turns, so that all see the same machine; reports each one's
//     p50 and p99, and the p50 each proxy adds to the direct request;
//   - throughput: 32 clients in parallel, rounds of the same count through each proxy in
//     turns; reports requests a second of each and the ratios to the bare proxy.
func BenchmarkVsReverseProxy(b *testing.B) {
	s := startBench(b)
	legs := s.legs()
	b.Run("latency", func(b *testing.B) {
		c := benchClient(1)
		defer c.CloseIdleConnections()
		lat := make([][]time.Duration, len(legs))
		for _, l := range legs {
			fetch(b, c, l.url, s.token)
		}
		for b.Loop() {
			for i, l := range legs {
				t0 := time.Now()
				fetch(b, c, l.url, s.token)
				lat[i] = append(lat[i], time.Since(t0))
			}
		}
		q := func(d []time.Duration, p int) float64 { return float64(d[len(d)*p/100].Microseconds()) }
		for i, l := range legs {
			slices.Sort(lat[i])
			b.ReportMetric(q(lat[i], 50), l.name+"-p50-µs")
			b.ReportMetric(q(lat[i], 99), l.name+"-p99-µs")
			if i > 0 {
				b.ReportMetric(q(lat[i], 50)-q(lat[0], 50), l.name+"-added-p50-µs")
			}
			if i > 1 {
				b.ReportMetric(q(lat[i], 99)/q(lat[1], 99), l.name+"-p99/bare")
			}
		}
		b.ReportMetric(0, "ns/op")
	})
	b.Run("throughput", func(b *testing.B) {
		const clients, round = 32, 2000
		c := benchClient(clients)
		defer c.CloseIdleConnections()
		runRound := func(url string) time.Duration {
			start := time.Now()
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range round / clients {
						fetch(b, c, url, s.token)
					}
				}()
			}
			wg.Wait()
			return time.Since(start)
		}
		proxies := legs[1:] // bare first
		dur := make([]time.Duration, len(proxies))
		for _, l := range proxies {
			runRound(l.url)
		}
		rounds := 0
		for b.Loop() {
			for i, l := range proxies {
				dur[i] += runRound(l.url)
			}
			rounds++
		}
		n := float64(rounds * round)
		for i, l := range proxies {
			b.ReportMetric(n/dur[i].Seconds(), l.name+"-req/s")
			if i > 0 {
				b.ReportMetric(dur[0].Seconds()/dur[i].Seconds(), l.name+"/bare")
			}
		}
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkReloadWriteToLive writes a route change to a file the gateway watches and
// measures until a request sees it, with no other load: the reload path's own latency.
func BenchmarkReloadWriteToLive(b *testing.B) {
	a, u := startEcho(b, "a"), startEcho(b, "b")
	path := filepath.Join(b.TempDir(), "gateway.yaml")
	writeFile(b, path, reloadDoc(a.srv.URL, u.srv.URL, 0))
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(time.Second), gateway.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Watch(b.Context(), []config.Source{file.New(path, file.WithDebounce(time.Millisecond))}); err != nil {
		b.Fatal(err)
	}
	base := startGateway(b, g)
	probe := &http.Client{Transport: &http.Transport{}}
	defer probe.CloseIdleConnections()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		writeFile(b, path, reloadDoc(a.srv.URL, u.srv.URL, i))
		for !markerLive(probe, base, i) {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("change %d not live", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
	_ = os.Remove(path)
}
