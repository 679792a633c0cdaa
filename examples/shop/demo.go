package main

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
	"github.com/tianshu-go/tianshu/registry"
	_ "github.com/tianshu-go/tianshu/registry/etcd"
	_ "github.com/tianshu-go/tianshu/registry/file"
	_ "github.com/tianshu-go/tianshu/registry/nacos"
	_ "github.com/tianshu-go/tianshu/registry/zookeeper"
	"github.com/tianshu-go/tianshu/rest"
)

// The config files the services start from, one per service; the demo copies them into
// its directory, where the tour edits gateway.yaml (the front door's routes) and
// payment.yaml.
//
//go:embed config/*.yaml
var configFiles embed.FS

type demoOptions struct {
	dir string // registry, config files and logs; "" for a temporary directory
	// registry is the services' registry URL (etcd://..., zookeeper://..., nacos://...);
	// "" for the embedded file registry in dir.
	registry string
	http     string        // the front door gateway-1's address
	rate     int           // orders a second
	tour     bool          // run the tour and return, instead of running until ctx ends
	every    time.Duration // between summary lines; 0 for none
	logs     io.Writer     // copy of the services' logs, if set
	// exe, args and env start a service; the default re-runs this program.
	exe  string
	args []string
	env  []string
}

// instances are the processes the demo starts, in order: the callees first. The API's
// second instance is its canary: version v2, registered as canaryService, which no route
// names until the tour adds a canary split.
var instances = [...]struct{ service, id string }{
	{"inventory", "inventory-1"}, {"inventory", "inventory-2"},
	{"payment", "payment-1"}, {"payment", "payment-2"},
	{"orders", "orders-1"},
	{api.Service, stableAPI}, {api.Service, canaryAPI},
	{front.Service, "gateway-1"}, {front.Service, "gateway-2"},
}

// The API's two versions: the stable one under api.Service, the canary under a service
// name of its own, which a route's canary target names.
const (
	stableAPI     = "shop-api-v1"
	canaryAPI     = "shop-api-v2"
	canaryService = "shop-api-canary"
)

// gatewayTarget is where the demo sends its orders: the front door's service, resolved
// through the registry by rest.Client, which balances over the front-door instances.
const gatewayTarget = "http://" + front.Service

// newClient returns the demo's HTTP client: services (http://gateway/...) resolved through
// reg and balanced by P2C, other hosts (the instances' admin URLs) sent through direct.
//
// It has no breaker: the tour shows the breaker inside orders, and one in front of the
// gateways would turn the gateways' 503s, while payment fails, into refusals of the
// client's own and hide what orders does. POST /orders is not idempotent, so the client
// never retries an order; the GETs of /status and /metrics go to fixed hosts.
func newClient(reg registry.Discovery, direct *http.Transport, opts ...rest.ClientOption) (*rest.Client, error) {
	return rest.NewClient(reg, append([]rest.ClientOption{
		rest.WithFallback(direct),
		rest.WithoutBreaker(),
		rest.WithoutClientTelemetry(),
	}, opts...)...)
}

// printer serialises the lines of the summary and of the tour.
type printer struct {
	mu  sync.Mutex
	out io.Writer
}

func (p *printer) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
}

// runDemo starts the shop, sends traffic and prints a summary every second until ctx ends
// or, with the tour, until the tour is over. Every process it started has ended when it
// returns.
func runDemo(ctx context.Context, out io.Writer, o demoOptions) (*report, error) {
	pr := &printer{out: out}
	if o.dir == "" {
		dir, err := os.MkdirTemp("", "tianshu-shop-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.dir = dir
	}
	if o.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.exe = exe
	}
	if err := writeConfigs(o.dir); err != nil {
		return nil, err
	}
	regDir := filepath.Join(o.dir, "registry")
	regURL, regNote := o.registry, ""
	if regURL == "" {
		regURL, regNote = "file://"+regDir, "(the embedded file registry: no server needed)"
	}
	reg, err := registry.Open(ctx, regURL)
	if err != nil {
		return nil, err
	}
	defer reg.Close()

	httpAddr := o.http
	if l, err := net.Listen("tcp", httpAddr); err != nil {
		pr.say("%s is taken (%v): the front door takes a free port instead", httpAddr, err)
		httpAddr = "127.0.0.1:0"
	} else {
		_ = l.Close()
	}
	fl := &fleet{exe: o.exe, args: o.args, dir: o.dir, logs: o.logs,
		env: append([]string{"SHOP_REGISTRY=" + regURL}, o.env...)}
	defer func() {
		fl.stop(15 * time.Second)
		pr.say("stopped every process the demo started")
	}()
	pr.say("registry: %s %s", regURL, regNote)
	pr.say("config:   %s (edit gateway.yaml's routes or payment.yaml while it runs)", filepath.Join(o.dir, "config"))
	pr.say("logs:     %s", filepath.Join(o.dir, "logs"))
	for _, in := range instances {
		var env []string
		switch {
		case in.id == "gateway-1":
			env = append(env, "SHOP_FRONT__HTTP="+httpAddr)
		case in.service == front.Service: // the config file's port is gateway-1's
			env = append(env, "SHOP_FRONT__HTTP=127.0.0.1:0")
		case in.id == canaryAPI:
			env = append(env, "SHOP_API__SERVICE="+canaryService, "SHOP_API__VERSION=v2")
		}
		c, err := fl.start(in.service, in.id, env...)
		if err != nil {
			return nil, err
		}
		pr.say("started %-11s pid %d", in.id, c.cmd.Process.Pid)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	client, err := newClient(reg, tr)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	obs := &observer{reg: reg, client: client.Client}
	gws, err := waitReady(ctx, obs, fl)
	if err != nil {
		return nil, err
	}
	gw := gws["gateway-1"]
	pr.say("gateway:  %s (gateway-1), %s (gateway-2): Tianshu's API gateway, routes in gateway.yaml", gw, gws["gateway-2"])
	admins := obs.adminURLs(ctx, front.Service)
	pr.say("admin:    %s/routes  %s/upstreams  %s/metrics (gateway-1)", admins["gateway-1"], admins["gateway-1"], admins["gateway-1"])
	pr.say("behind:   service %s (%s) and %s (%s, no route yet): the JSON API", api.Service, stableAPI, canaryService, canaryAPI)
	pr.say("traffic:  POST %s/orders through rest.Client: the registry lists both front doors, P2C picks", gatewayTarget)
	pr.say("try:      curl -s -XPOST %s/orders -d '{\"item\":\"tea\",\"quantity\":2}'", gw)
	pr.say("          curl -s %s/orders    curl -s %s/status", gw, gw)
	pr.say("          curl -s %s%s?limit=2   (orders' gRPC ListOrders, as REST)", gw, restOrders)

	traffic := &traffic{url: gatewayTarget, client: obs.client}
	sum := newSummaries(ctx, pr, obs, o.every)
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { traffic.run(bg, o.rate) })
	if o.every > 0 && !o.tour { // the tour drives the summaries itself
		wg.Go(func() { sum.run(bg) })
	}
	defer func() {
		stopBG()
		wg.Wait()
	}()
	if !o.tour {
		pr.say("Ctrl-C stops everything")
		<-ctx.Done()
		return nil, ctx.Err()
	}
	t := &tour{pr: pr, sum: sum, obs: obs, fleet: fl, traffic: traffic, dir: o.dir}
	return t.run(ctx)
}

func writeConfigs(dir string) error {
	for _, sub := range []string{"config", "logs", "registry"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	return fs.WalkDir(configFiles, "config", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := configFiles.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), data, 0o644)
	})
}

// waitReady waits until every instance is registered and an order goes through each front
// door, and fails at once, with the end of its log, when a service exits. It returns the
// front doors' URLs by instance ID.
func waitReady(ctx context.Context, obs *observer, fl *fleet) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		for _, in := range instances {
			if c := fl.find(in.id); c != nil && !c.running() {
				return nil, fmt.Errorf("%s exited at start (%v); its log ends:\n%s", in.id, c.cmd.ProcessState, tail(c.logPath, 20))
			}
		}
		if gws := obs.gatewayURLs(ctx); len(gws) == 2 && len(obs.apiURLs(ctx)) == 2 &&
			len(obs.instances(ctx, "inventory")) == 2 && len(obs.instances(ctx, "payment")) == 2 {
			// An order through each front door, so that each has found shop-api before
			// the traffic starts.
			placed := 0
			for _, u := range gws {
				probe := &traffic{url: u, client: obs.client}
				if a := probe.post(ctx, "tea", 1); a.placed() {
					placed++
				}
			}
			if placed == len(gws) {
				return gws, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the shop did not get ready: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// reading is one look at the shop: the API instances' counters, summed, and orders'
// breakers.
type reading struct {
	at       time.Time
	status   api.Status
	err      error // reading the API's status failed
	breakers map[string]string
}

// summaries prints the line a second. Each line is made from one reading, the latest, and
// the tour judges its steps from the very readings it polls through here, printing the
// latest before each outcome: were lines made from readings of their own, taken on
// their own clock, a line could still show the breaker closed after the tour said it
// opened. Only one goroutine calls it: the tour's, or run's.
type summaries struct {
	pr    *printer
	obs   *observer
	every time.Duration // 0: no lines
	start time.Time

	printed reading // the reading of the last line, or the first one
	latest  reading
}

func newSummaries(ctx context.Context, pr *printer, obs *observer, every time.Duration) *summaries {
	s := &summaries{pr: pr, obs: obs, every: every, start: time.Now()}
	s.printed = s.read(ctx)
	if s.printed.err != nil {
		s.printed.status = api.Status{ServedBy: map[string]int64{}}
	}
	s.latest = s.printed
	return s
}

func (s *summaries) read(ctx context.Context) reading {
	st, err := s.obs.status(ctx)
	return reading{at: time.Now(), status: st, err: err, breakers: breakerStates(s.obs.scrape(ctx, "orders"))}
}

// poll takes a new reading, prints its line if one is due, and returns it.
func (s *summaries) poll(ctx context.Context) reading {
	s.latest = s.read(ctx)
	if s.every > 0 && s.latest.at.Sub(s.printed.at) >= s.every {
		s.flush()
	}
	return s.latest
}

// flush prints the line of the latest reading unless it is printed already.
func (s *summaries) flush() {
	if s.every <= 0 || !s.latest.at.After(s.printed.at) {
		return
	}
	now := s.latest
	elapsed := now.at.Sub(s.start)
	if now.err != nil {
		s.pr.say("%5.1fs  shop-api's status: %v", elapsed.Seconds(), now.err)
		return // rates stay measured from the last good reading
	}
	s.pr.say("%s", summary(elapsed, s.printed.status, now.status, now.at.Sub(s.printed.at), now.breakers))
	s.printed = now
}

// run prints a line every interval until ctx ends.
func (s *summaries) run(ctx context.Context) {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if r := s.read(ctx); ctx.Err() == nil {
			s.latest = r
			s.flush()
		}
	}
}
