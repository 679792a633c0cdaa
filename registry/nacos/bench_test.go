package nacos_test

// Baselines in this file: the bare SDK doing the same round trip (RegisterInstance and a
// Subscribe callback; PublishConfig and a ListenConfig callback), so the figures show what
// Tianshu adds over nacos-sdk-go.

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/config"
	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// report gives the latencies as the benchmark's figures; wall time per op is not one.
func report(b *testing.B, lat []time.Duration) {
	registrytest.ReportLatencies(b, "", lat)
	b.ReportMetric(0, "ns/op")
}

// pushTick is rnacos's naming push timer: a change is pushed on the first 500 ms tick at
// least 500 ms after it (naming_delay_nofity.rs), so a push takes 500-1,000 ms depending on
// where between two ticks the change lands.
const pushTick = 500 * time.Millisecond

// dephase waits a random part of rnacos's push tick. Samples taken back to back would each
// start just after the push that ended the last one, lock onto the tick, and all read the
// worst case (about 1,002 ms); changes in production land at random phases.
func dephase() { time.Sleep(rand.N(pushTick)) }

// BenchmarkRegisterToConsumerNotified measures the time from Register to a consumer's watcher
// (another process: its own SDK client) returning a list with the new instance.
func BenchmarkRegisterToConsumerNotified(b *testing.B) {
	srv := testenv.StartNacos(b)
	prov, cons := open(b, srv, sdkDir(b)), open(b, srv, sdkDir(b))
	svc := registrytest.ServiceName(b)
	w, err := cons.Watch(ctxFor(b), svc)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	if _, err := w.Next(); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in := registrytest.NewInstance(svc, fmt.Sprintf("i-%d", i), 10000+i%50000)
		b.StopTimer()
		dephase()
		b.StartTimer()
		start := time.Now()
		if err := prov.Register(ctxFor(b), in); err != nil {
			b.Fatal(err)
		}
		for {
			l, err := w.Next()
			if err != nil {
				b.Fatal(err)
			}
			if slices.ContainsFunc(l, func(x *registry.Instance) bool { return x.ID == in.ID }) {
				break
			}
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		_ = prov.Deregister(ctxFor(b), in)
		for l, _ := w.Next(); len(l) != 0; l, _ = w.Next() {
		}
		b.StartTimer()
	}
	report(b, lat)
}

// BenchmarkBareSDKRegisterToSubscribeCallback is the baseline: the SDK alone.
func BenchmarkBareSDKRegisterToSubscribeCallback(b *testing.B) {
	srv := testenv.StartNacos(b)
	prov, cons := rawNaming(b, srv, ""), rawNaming(b, srv, "")
	svc := registrytest.ServiceName(b)
	lists := make(chan []model.Instance, 64)
	if err := cons.Subscribe(&vo.SubscribeParam{ServiceName: svc, SubscribeCallback: func(l []model.Instance, _ error) { lists <- l }}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		port := uint64(10000 + i%50000)
		b.StopTimer()
		dephase()
		b.StartTimer()
		start := time.Now()
		if _, err := prov.RegisterInstance(vo.RegisterInstanceParam{ServiceName: svc, Ip: "127.0.0.1", Port: port, Weight: 1, Enable: true, Healthy: true, Ephemeral: true}); err != nil {
			b.Fatal(err)
		}
		for l := range lists {
			if len(l) == 1 && l[0].Port == port {
				break
			}
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		_, _ = prov.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: svc, Ip: "127.0.0.1", Port: port, Ephemeral: true})
		b.StartTimer()
	}
	report(b, lat)
}

// BenchmarkConfigPublishToObserver measures the time from publishing a dataId to a Source's
// watcher returning it.
func BenchmarkConfigPublishToObserver(b *testing.B) {
	srv := testenv.StartNacos(b)
	src, err := nacosconfig.New(ctxFor(b), []string{srv.Addr}, []string{"bench.yaml"},
		nacos.ConfigOptions(append(base(b, sdkDir(b)), nacos.WithGroup(registrytest.ServiceName(b)))...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	if err := src.Put(ctxFor(b), "bench.yaml", []byte("v: 0\n")); err != nil {
		b.Fatal(err)
	}
	w, err := src.Watch(ctxFor(b))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	waitFor := func(want string) {
		for {
			docs, err := w.Next(ctxFor(b))
			if err != nil {
				b.Fatal(err)
			}
			if len(docs) == 1 && string(docs[0].Data) == want {
				return
			}
		}
	}
	waitFor("v: 0\n")
	// The SDK starts listening on its next 5 s round; one change makes sure it has.
	if err := src.Put(ctxFor(b), "bench.yaml", []byte("v: -1\n")); err != nil {
		b.Fatal(err)
	}
	waitFor("v: -1\n")
	lat := make([]time.Duration, 0, b.N)
	for i := 1; b.Loop(); i++ {
		data := fmt.Sprintf("v: %d\n", i)
		start := time.Now()
		if err := src.Put(ctxFor(b), "bench.yaml", []byte(data)); err != nil {
			b.Fatal(err)
		}
		waitFor(data)
		lat = append(lat, time.Since(start))
	}
	report(b, lat)
}

// BenchmarkBareSDKPublishToListenCallback is the baseline: the SDK alone.
func BenchmarkBareSDKPublishToListenCallback(b *testing.B) {
	srv := testenv.StartNacos(b)
	dir := sdkDir(b)
	cc := &constant.ClientConfig{TimeoutMs: 5000, CacheDir: filepath.Join(dir, "cache"), LogDir: filepath.Join(dir, "log")}
	nacos.QuietSDKFileLog(cc)
	cli, err := clients.NewConfigClient(vo.NacosClientParam{
		ClientConfig:  cc,
		ServerConfigs: []constant.ServerConfig{{IpAddr: srv.Host, Port: uint64(srv.Port)}},
	})
	nacos.UseSDKLogger(testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer cli.CloseClient()
	group := registrytest.ServiceName(b)
	got := make(chan string, 64)
	publish := func(s string) {
		if _, err := cli.PublishConfig(vo.ConfigParam{DataId: "bench.yaml", Group: group, Content: s}); err != nil {
			b.Fatal(err)
		}
	}
	publish("v: 0\n")
	if err := cli.ListenConfig(vo.ConfigParam{DataId: "bench.yaml", Group: group, OnChange: func(_, _, _, data string) { got <- data }}); err != nil {
		b.Fatal(err)
	}
	// The SDK drops a change when its per-dataId query limiter (5 per second) refuses the
	// read that follows a notification, and calls back only at the next change: a wait gives
	// up after 10 s and counts the change as missed.
	wait := func(want string) bool {
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-got:
				if s == want {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
	publish("v: -1\n")
	wait("v: -1\n")
	lat := make([]time.Duration, 0, b.N)
	missed := 0
	for i := 1; b.Loop(); i++ {
		data := fmt.Sprintf("v: %d\n", i)
		start := time.Now()
		publish(data)
		if wait(data) {
			lat = append(lat, time.Since(start))
		} else {
			missed++
		}
	}
	report(b, lat)
	b.ReportMetric(float64(missed), "missed")
}

var _ config.Source = (*nacos.Source)(nil)

// BenchmarkScale is registrytest's scale run on rnacos: 1,000 services x 5 instances. Each
// handle is its own SDK client (its own cache directory), as separate processes would be.
// rnacos pushes changes on a 500 ms timer, so each notification takes 0.5-1 s: 20 samples,
// each at a random phase of the timer.
//
//	go test -run '^$' -bench Scale -benchtime=1x ./registry/nacos/
func BenchmarkScale(b *testing.B) {
	srv := testenv.StartNacos(b)
	n := 0
	registrytest.BenchmarkScale(b, registrytest.Scale{Services: 1000, PerService: 5, Samples: 20, Dephase: pushTick}, "nacos",
		func(tb testing.TB) registry.Registry {
			n++
			return open(tb, srv, filepath.Join(b.TempDir(), fmt.Sprint(n)))
		})
}
