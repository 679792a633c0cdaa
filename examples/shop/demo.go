package main

import (
	"context"
	"embed"
	"errors"
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

	"github.com/tianshu-go/tianshu/examples/shop/internal/gateway"
	"github.com/tianshu-go/tianshu/registry"
	_ "github.com/tianshu-go/tianshu/registry/etcd"
	_ "github.com/tianshu-go/tianshu/registry/file"
	_ "github.com/tianshu-go/tianshu/registry/nacos"
	_ "github.com/tianshu-go/tianshu/registry/zookeeper"
)

// The config files the services start from, one per service; the demo copies them into
// its directory, where the tour edits payment.yaml.
//
//go:embed config/*.yaml
var configFiles embed.FS

type demoOptions struct {
	dir string // registry, config files and logs; "" for a temporary directory
	// registry is the services' registry URL (etcd://..., zookeeper://..., nacos://...);
	// "" for the embedded file registry in dir.
	registry string
	http     string        // the gateway's address
	rate     int           // orders a second
	tour     bool          // run the tour and return, instead of running until ctx ends
	every    time.Duration // between summary lines; 0 for none
	logs     io.Writer     // copy of the services' logs, if set
	// exe, args and env start a service; the default re-runs this program.
	exe  string
	args []string
	env  []string
}

// instances are the processes the demo starts, in order: the callees first.
var instances = [...]struct{ service, id string }{
	{"inventory", "inventory-1"}, {"inventory", "inventory-2"},
	{"payment", "payment-1"}, {"payment", "payment-2"},
	{"orders", "orders-1"},
	{"gateway", "gateway-1"},
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
		pr.say("%s is taken (%v): the gateway takes a free port instead", httpAddr, err)
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
	pr.say("config:   %s (edit payment.yaml while it runs)", filepath.Join(o.dir, "config"))
	pr.say("logs:     %s", filepath.Join(o.dir, "logs"))
	for _, in := range instances {
		c, err := fl.start(in.service, in.id, "SHOP_GATEWAY__HTTP="+httpAddr)
		if err != nil {
			return nil, err
		}
		pr.say("started %-11s pid %d", in.id, c.cmd.Process.Pid)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	obs := &observer{reg: reg, client: &http.Client{Transport: tr}}
	gw, err := waitReady(ctx, obs, fl)
	if err != nil {
		return nil, err
	}
	pr.say("gateway:  %s", gw)
	pr.say("try:      curl -s -XPOST %s/orders -d '{\"item\":\"tea\",\"quantity\":2}'", gw)
	pr.say("          curl -s %s/orders    curl -s %s/status", gw, gw)

	traffic := &traffic{url: gw, client: obs.client}
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { traffic.run(bg, o.rate) })
	if o.every > 0 {
		wg.Go(func() { printSummaries(bg, pr, obs, gw, o.every) })
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
	t := &tour{pr: pr, obs: obs, fleet: fl, traffic: traffic, dir: o.dir}
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

// waitReady waits until every instance is registered and an order goes through, and fails
// at once, with the end of its log, when a service exits.
func waitReady(ctx context.Context, obs *observer, fl *fleet) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	probe := &traffic{client: obs.client}
	for {
		for _, in := range instances {
			if c := fl.find(in.id); c != nil && !c.running() {
				return "", fmt.Errorf("%s exited at start (%v); its log ends:\n%s", in.id, c.cmd.ProcessState, tail(c.logPath, 20))
			}
		}
		if gw := obs.gatewayURL(ctx); gw != "" &&
			len(obs.instances(ctx, "inventory")) == 2 && len(obs.instances(ctx, "payment")) == 2 {
			probe.url = gw
			if a := probe.post(ctx, "tea", 1); a.placed() {
				return gw, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the shop did not get ready: %w", ctx.Err())
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

// printSummaries prints a summary line every interval until ctx ends.
func printSummaries(ctx context.Context, pr *printer, obs *observer, gw string, every time.Duration) {
	start := time.Now()
	prev, _ := obs.status(ctx, gw)
	last := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, err := obs.status(ctx, gw)
		if err != nil {
			if !errors.Is(ctx.Err(), context.Canceled) {
				pr.say("%4.0fs  gateway status: %v", time.Since(start).Seconds(), err)
			}
			continue
		}
		breakers := breakerStates(obs.scrape(ctx, "orders"))
		if prev.ServedBy == nil {
			prev = gateway.Status{ServedBy: map[string]int64{}}
		}
		pr.say("%s", summary(time.Since(start), prev, now, time.Since(last), breakers))
		prev, last = now, time.Now()
	}
}
