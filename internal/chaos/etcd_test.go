package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
)

// Bounds of the registry outages.
const (
	// outageHealBound: after the registry server is back, the consumer's registry is healthy
	// and a provider restarted then is served within this.
	outageHealBound = 15 * time.Second
	// pauseFailWindow: when a pause outlives the leases, etcd deletes the providers' keys on
	// resuming and consumers see the service empty until the providers put them back; calls
	// may fail in that window, which must close within one TTL and a second of the resume.
	pauseFailWindow = providerTTL + time.Second
)

func TestEtcdRegistry(t *testing.T) {
	srv := testenv.StartEtcd(t)
	backend, err := etcd.New(context.Background(), []string{srv.Endpoint}, etcd.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = backend.Close() })
	// The consumer keeps the last good list while etcd is unreachable.
	disc := registry.NewFailover(backend, registry.WithCacheDir(t.TempDir()), registry.WithFailoverLogger(quiet()))
	c := newCluster(t, []string{"CHAOS_ETCD=" + srv.Endpoint}, disc)

	t.Run("RollingRestartOfEachProviderUnder500CallsPerSecondFailsNoCall", func(t *testing.T) {
		rollingRestart(t, c, "etcd", 20*time.Second)
	})
	t.Run("ProviderSIGKILLFailsOnlyInFlightCallsAndTheLeaseDropsIt", func(t *testing.T) {
		providerKill(t, c, "etcd", providerTTL+2*time.Second)
	})
	t.Run("RegistryServerKilledAndRestartedFailsNoCallAndHeals", func(t *testing.T) {
		registryOutage(t, c, backend, "etcd-sigkill-restart", func() {
			srv.Kill()
			time.Sleep(providerTTL) // the outage
		}, func() { srv.Restart(t, true) }, 0)
	})
	t.Run("RegistryPausedPastTheLeaseTTLHealsByItself", func(t *testing.T) {
		registryOutage(t, c, backend, "etcd-sigstop-past-ttl", func() {
			srv.Pause()
			time.Sleep(providerTTL + 2*time.Second) // longer than the providers' lease
		}, srv.Resume, pauseFailWindow)
	})
}

// registryOutage runs fault and then heal under load. With failWindow 0 no call may fail;
// otherwise failures must end within failWindow of heal. Full health afterwards means: the
// consumer's backend reports healthy, all providers are listed and served, and a provider
// restarted after the outage is served on its new address (so watches work again), all
// within outageHealBound of heal.
func registryOutage(t *testing.T, c *cluster, backend *etcd.Registry, name string, fault, heal func(), failWindow time.Duration) {
	c.waitHealthy(t, 30*time.Second, "before the outage")
	l := startLoad(t, c.client)
	time.Sleep(time.Second)
	faulted := time.Now()
	servedBefore := l.served.Load()
	fault()
	// The server is down (or paused) from here back to faulted; heal starts it again.
	down, servedDown := time.Since(faulted), l.served.Load()-servedBefore
	heal()
	healed := time.Now()
	for !backend.Healthy() {
		if time.Since(healed) > outageHealBound {
			t.Fatalf("%s: the consumer's etcd client was not healthy %v after the server came back", name, outageHealBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	clientBack := time.Since(healed)
	c.waitHealthy(t, outageHealBound, "after the outage")
	c.providers["c"].Restart(t, false)
	c.waitHealthy(t, outageHealBound-time.Since(healed), "a provider restarted after the outage")
	full := time.Since(healed)
	l.Stop()
	fs := l.failed()
	last := time.Duration(0)
	if len(fs) > 0 {
		last = fs[len(fs)-1].at.Sub(healed)
	}
	t.Logf("RESULT %s outage=%v calls=%d served-while-down=%d failed=%d failures-ended-after-heal=%v client-healthy-after=%v full-health-after=%v",
		name, healed.Sub(faulted).Round(100*time.Millisecond), l.calls.Load(), servedDown, len(fs), last.Round(time.Millisecond), clientBack.Round(time.Millisecond), full.Round(time.Millisecond))
	if len(fs) > 0 {
		t.Logf("failed calls: %s", summary(fs, healed))
	}
	switch {
	case failWindow == 0 && len(fs) > 0:
		t.Fatalf("%s: %d of %d calls failed: %s", name, len(fs), l.calls.Load(), summary(fs, faulted))
	case len(fs) > 0 && last > failWindow:
		t.Fatalf("%s: calls still failed %v after the registry came back, bound %v: %s", name, last, failWindow, summary(fs, healed))
	case servedDown < minServed(down):
		t.Fatalf("%s: %d calls succeeded in the %v the registry was down, want at least %d (a quarter of %d/s): the callers stalled",
			name, servedDown, down.Round(time.Millisecond), minServed(down), rate)
	}
}
