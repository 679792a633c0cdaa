package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/internal/testenv"
)

const etcdKey = "/config/gateway/routes.yaml"

func etcdClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func etcdPut(t testing.TB, cli *clientv3.Client, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcdKey, data); err != nil {
		t.Fatalf("put %s: %v", etcdKey, err)
	}
}

// TestReloadFromEtcd changes the routes in a real etcd while clients hammer the gateway,
// and checks the config center's failures: an invalid set is rejected once, and while
// etcd is down the routes in force keep serving.
func TestReloadFromEtcd(t *testing.T) {
	srv := testenv.StartEtcd(t)
	admin := etcdClient(t, srv.Endpoint)
	a, b := startEcho(t, "a"), startEcho(t, "b")
	etcdPut(t, admin, reloadDoc(a.srv.URL, b.srv.URL, 0))

	src, err := etcdconfig.New(etcdClient(t, srv.Endpoint), etcdKey, etcdconfig.WithRetry(50*time.Millisecond, 500*time.Millisecond), etcdconfig.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	var reported errorLog
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(time.Second), gateway.WithErrorHandler(reported.add), gateway.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Watch(ctx, []config.Source{src}); err != nil {
		t.Fatal(err)
	}
	base, closed := startGatewayCounting(t, g)

	changes := 1000
	if testing.Short() {
		changes = 100
	}
	runReload(t, base, closed, changes, func(i int) { etcdPut(t, admin, reloadDoc(a.srv.URL, b.srv.URL, i)) }, reloadClients)

	probe := probeClient(t)
	// An invalid set: rejected whole, reported once, the last good routes serve on.
	etcdPut(t, admin, "gateway:\n  routes:\n    - {name: x, match: {path: {exact: /}}, target: {}}\n")
	waitFor(t, "the rejection is reported", func() bool { return reported.count() >= 1 })
	if !markerLive(probe, base, changes) {
		t.Fatalf("an invalid set changed the routes in force")
	}

	// etcd down: the last good routes keep serving; back up: the next change applies.
	srv.Stop()
	for i := 0; i < 20; i++ {
		if !markerLive(probe, base, changes) {
			t.Fatalf("request %d while etcd is down: the routes in force stopped serving", i)
		}
	}
	srv.Start(t)
	back := time.Now()
	etcdPut(t, etcdClient(t, srv.Endpoint), reloadDoc(a.srv.URL, b.srv.URL, changes+1))
	waitFor(t, "a change after etcd came back applies", func() bool { return markerLive(probe, base, changes+1) })
	// The bound is the source's reconnect backoff cap (500 ms here) + 1 s; the test
	// allows three times that, so that a loaded machine does not fail it.
	took := time.Since(back)
	t.Logf("etcd back up -> the routes match it again: %v", took.Round(time.Millisecond))
	if limit := 3 * (500*time.Millisecond + time.Second); took > limit {
		t.Errorf("the routes matched etcd again %v after it came back, want within %v", took, limit)
	}
}

func probeClient(t testing.TB) *http.Client {
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// BenchmarkReloadWriteToLiveEtcd is BenchmarkReloadWriteToLive with the routes in etcd:
// from the Put returning to a request seeing the change.
func BenchmarkReloadWriteToLiveEtcd(b *testing.B) {
	srv := testenv.StartEtcd(b)
	admin := etcdClient(b, srv.Endpoint)
	a, u := startEcho(b, "a"), startEcho(b, "b")
	etcdPut(b, admin, reloadDoc(a.srv.URL, u.srv.URL, 0))
	src, err := etcdconfig.New(etcdClient(b, srv.Endpoint), etcdKey, etcdconfig.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(time.Second), gateway.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Watch(b.Context(), []config.Source{src}); err != nil {
		b.Fatal(err)
	}
	base := startGateway(b, g)
	probe := probeClient(b)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		etcdPut(b, admin, reloadDoc(a.srv.URL, u.srv.URL, i))
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
}
