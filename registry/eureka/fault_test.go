package eureka_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// TestKilledProviderIsEvicted runs a provider in a child process, kills it with SIGKILL so
// that it cannot cancel its lease, and waits for Eureka to evict it. Under the test
// settings (a 2 s lease renewed every second, which Eureka honours twice over, a 1 s
// eviction timer, no read-only cache, 200 ms fetches) that takes 3-5 s; the bound is
// generous.
func TestKilledProviderIsEvicted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a provider process")
	}
	srv := springServers.Get(t)
	svc := registrytest.ServiceName(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := testenv.StartProcess(t, "provider", t.TempDir(), []string{childEnv + "=" + srv.EurekaURL + " " + svc + " doomed"}, exe)
	eventually(t, 30*time.Second, "the child registered", func() bool { return strings.Contains(child.Output(), "registered") })

	cons := open(t, []string{srv.EurekaURL})
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(10*time.Second, "the child's instance", registrytest.HasIDs("doomed"))
	// A few renewals first: a lease never renewed expires after one duration, a renewed
	// one after two (Eureka's Lease.renew adds the duration that isExpired adds again).
	time.Sleep(3 * time.Second)
	child.Kill()
	killed := time.Now()
	f.Until(60*time.Second, "the killed instance evicted", registrytest.HasIDs())
	t.Logf("the killed provider left the consumer's list %v after SIGKILL", time.Since(killed).Round(100*time.Millisecond))
}

// TestAfterAServerRestartInstancesReturnWithTheirStatus: Eureka forgets everything when it
// restarts; each provider's next renewal answers 404 and it registers again, with the
// status it had (OUT_OF_SERVICE included, an override Eureka also forgot), and the
// consumer's watch, back on a full fetch after the hash mismatch, lists the UP ones again.
func TestAfterAServerRestartInstancesReturnWithTheirStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a server")
	}
	srv := testenv.StartSpringServers(t)
	prov, cons := open(t, []string{srv.EurekaURL}), open(t, []string{srv.EurekaURL})
	svc := registrytest.ServiceName(t)
	up, oos := registrytest.NewInstance(svc, "up", 7001), registrytest.NewInstance(svc, "oos", 7002)
	for _, in := range []*registry.Instance{up, oos} {
		if err := prov.Register(ctxFor(t), in); err != nil {
			t.Fatal(err)
		}
	}
	if err := prov.SetStatus(ctxFor(t), oos, eureka.StatusOutOfService); err != nil {
		t.Fatal(err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(10*time.Second, "up alone", registrytest.HasIDs("up"))

	srv.Restart(t, true)
	restarted := time.Now()
	app := strings.ToUpper(svc)
	eventually(t, 20*time.Second, "both instances registered again", func() bool {
		got := rawInstances(t, srv.EurekaURL, app)
		return got["up"]["status"] == "UP" && got["oos"]["status"] == "OUT_OF_SERVICE"
	})
	t.Logf("both instances were back %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "new", 7003)); err != nil {
		t.Fatal(err)
	}
	f.Until(20*time.Second, "up and new after the restart", registrytest.HasIDs("new", "up"))
}

// TestServerDownAtStartConsumersUseTheFailoverCacheAndProvidersRetry: a consumer wrapped in
// registry.Failover with a cache directory serves the list it saved before the server went
// down; a provider's registration made meanwhile lands once the server is up, and the
// consumer then follows the server again.
func TestServerDownAtStartConsumersUseTheFailoverCacheAndProvidersRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a server")
	}
	srv := testenv.NewSpringServers(t)
	srv.Start(t)
	svc := registrytest.ServiceName(t)
	cache := t.TempDir()
	failover := func(r registry.Registry) *registry.Failover {
		log, _ := newLog(t)
		return registry.NewFailover(r, registry.WithCacheDir(cache), registry.WithFailoverLogger(log), registry.WithBackendTimeout(time.Second))
	}

	func() {
		// Closed before the server goes down: "old" is cancelled, and only the cache
		// remembers it.
		prov := open(t, []string{srv.EurekaURL})
		defer prov.Close()
		cons := failover(open(t, []string{srv.EurekaURL}))
		defer cons.Close()
		if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "old", 7001)); err != nil {
			t.Fatal(err)
		}
		w, err := cons.Watch(ctxFor(t), svc)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		registrytest.NewFollow(t, w).Until(10*time.Second, "old", registrytest.HasIDs("old"))
	}()
	srv.Kill()

	prov := open(t, []string{srv.EurekaURL})
	cons := failover(open(t, []string{srv.EurekaURL}))
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatalf("Watch with the server down and a cached list: %v", err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(5*time.Second, "the cached list while the server is down", registrytest.HasIDs("old"))
	rctx, cancel := context.WithTimeout(ctxFor(t), time.Second)
	err = prov.Register(rctx, registrytest.NewInstance(svc, "new", 7002))
	cancel()
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Register with the server down = %v; want ErrUnavailable", err)
	}

	srv.Start(t)
	up := time.Now()
	f.Until(20*time.Second, "the registration retried, once the server is up", registrytest.HasIDs("new"))
	t.Logf("the registration made while the server was down was listed %v after it came up", time.Since(up).Round(100*time.Millisecond))
}
