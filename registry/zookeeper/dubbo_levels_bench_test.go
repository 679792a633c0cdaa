package zookeeper_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// BenchmarkDubboLevels is the figure application-level discovery exists for: a fleet of
// interfaces x providers written at Dubbo's interface level (a URL node per interface and
// provider) against application level (an instance node per provider and a mapping node per
// interface, the services served by each provider's MetadataServiceV2), and a consumer of
// every interface reading each way. It reports, from ZooKeeper's own mntr counters, the
// nodes and bytes the providers add and the watches the consumer sets, and the time from
// the consumer's first Watch to every interface's full list (and the providers' time to
// register it all), for the 1,000 interfaces x 10 providers.
//
//	go test -run '^$' -bench BenchmarkDubboLevels -benchtime 1x ./registry/zookeeper/
func BenchmarkDubboLevels(b *testing.B) {
	const interfaces, providers = 1000, 10
	for _, level := range []struct {
		name     string
		register dubbo.RegisterMode
		discover dubbo.DiscoveryMode
	}{
		{"interface", dubbo.RegisterInterface, dubbo.DiscoverInterface},
		{"application", dubbo.RegisterInstance, dubbo.DiscoverApplication},
	} {
		b.Run(level.name, func(b *testing.B) {
			srv := zkServer.Get(b)
			for i := range b.N {
				app := fmt.Sprintf("levels-%s-%d-%d", level.name, time.Now().UnixNano(), i)
				before := mntr(b, srv.Addr)
				start := time.Now()
				provs := startLevelProviders(b, srv.Addr, app, level.register, interfaces, providers)
				registered := time.Since(start)
				written := mntr(b, srv.Addr)
				took, watching := consumeAll(b, srv.Addr, app, level.discover, interfaces, providers)
				b.ReportMetric(float64(written["zk_znode_count"]-before["zk_znode_count"]), "nodes")
				b.ReportMetric(float64(written["zk_approximate_data_size"]-before["zk_approximate_data_size"]), "bytes")
				b.ReportMetric(float64(watching["zk_watch_count"]-written["zk_watch_count"]), "watches")
				b.ReportMetric(float64(took.Milliseconds()), "ms-to-full-lists")
				b.ReportMetric(float64(registered.Milliseconds()), "ms-to-register")
				for _, p := range provs {
					p()
				}
			}
		})
	}
}

// startLevelProviders registers providers instances of each of the interfaces through one
// Registry per provider, as providers processes would, and serves each provider's
// MetadataServiceV2 on the port its instances announce. It returns the functions that stop
// them.
func startLevelProviders(b *testing.B, addr, app string, mode dubbo.RegisterMode, interfaces, providers int) []func() {
	b.Helper()
	stops := make([]func(), providers)
	var wg sync.WaitGroup
	errs := make(chan error, providers)
	for p := range providers {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		port := lis.Addr().(*net.TCPAddr).Port
		reg, err := zookeeper.New(context.Background(), []string{addr}, zookeeper.WithLayout(zookeeper.LayoutDubbo),
			zookeeper.WithDubboPublish(dubbo.Publish{Application: app}), zookeeper.WithRegisterMode(mode),
			zookeeper.WithLogger(testLogger(b)))
		if err != nil {
			b.Fatal(err)
		}
		gs := grpc.NewServer()
		metadataservice.Register(gs, registrySource{reg})
		go func() { _ = gs.Serve(lis) }()
		stops[p] = func() { gs.Stop(); _ = reg.Close() }
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range interfaces {
				in := &registry.Instance{ID: fmt.Sprintf("p%d", p), Service: levelInterface(app, i), Version: "1.0.0",
					Endpoints: []registry.Endpoint{{Scheme: "tri", Host: "127.0.0.1", Port: port}}}
				if err := reg.Register(context.Background(), in); err != nil {
					errs <- fmt.Errorf("provider %d, %s: %w", p, in.Service, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return stops
}

// registrySource serves the metadata a provider's Registry announces.
type registrySource struct{ r *zookeeper.Registry }

func (s registrySource) Metadata(revision string) (*metadatapb.MetadataInfoV2, bool) {
	md, ok := s.r.DubboMetadata(revision)
	if !ok {
		return nil, false
	}
	return metadataservice.ToProto(md, revision), true
}

func levelInterface(app string, i int) string {
	return fmt.Sprintf("org.example.%s.Service%04d", app, i)
}

// consumeAll watches every interface from one new consumer Registry and returns the time
// until each list holds every provider, and mntr's counters at that moment.
func consumeAll(b *testing.B, addr, app string, mode dubbo.DiscoveryMode, interfaces, providers int) (time.Duration, map[string]int64) {
	b.Helper()
	cons, err := zookeeper.New(context.Background(), []string{addr}, zookeeper.WithLayout(zookeeper.LayoutDubbo),
		zookeeper.WithDubboDiscovery(mode), zookeeper.WithLogger(testLogger(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, interfaces)
	watchers := make([]registry.Watcher, interfaces)
	sem := make(chan struct{}, 64) // as a consumer starting with many references would
	for i := range interfaces {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := cons.Watch(ctx, levelInterface(app, i))
			if err != nil {
				errs <- err
				return
			}
			watchers[i] = w
			for {
				list, err := w.Next()
				if err != nil {
					errs <- fmt.Errorf("%s: %w", levelInterface(app, i), err)
					return
				}
				if len(list) == providers {
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	counters := mntr(b, addr)
	for _, w := range watchers {
		w.Stop()
	}
	return took, counters
}

// mntr returns ZooKeeper's numeric monitoring counters (the mntr four-letter command, which
// the test server allows).
func mntr(b *testing.B, addr string) map[string]int64 {
	b.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("mntr")); err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			out[k] = n
		}
	}
	if _, ok := out["zk_znode_count"]; !ok {
		b.Fatalf("mntr from %s has no zk_znode_count: %v", addr, out)
	}
	return out
}
