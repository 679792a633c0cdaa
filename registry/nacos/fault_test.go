package nacos_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/pairbench"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/rpc"
)

func TestAfterAServerRestartProvidersReturnAndConsumersHearAgain(t *testing.T) {
	testenv.SkipUnderRaceLocally(t, sdkRaceMessage)
	if testing.Short() {
		t.Skip("restarts a server")
	}
	srv := testenv.StartNacos(t)
	prov, cons := open(t, srv, sdkDir(t)), open(t, srv, sdkDir(t))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "before", 7001)); err != nil {
		t.Fatal(err)
	}
	f := follow(t, cons, svc)
	f.Until(20*time.Second, "before", registrytest.HasIDs("before"))

	srv.Restart(t, true) // SIGKILL: rnacos keeps no ephemeral instance across a restart
	up := time.Now()
	// A fresh reader sees the provider only once the SDK has reconnected and registered again.
	fresh := open(t, srv, sdkDir(t))
	eventually(t, 60*time.Second, "the provider registered again", func() bool {
		l, err := fresh.GetService(ctxFor(t), svc)
		return err == nil && registrytest.HasIDs("before")(l)
	})
	reregistered := time.Since(up)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "after", 7002)); err != nil {
		t.Fatal(err)
	}
	f.Until(60*time.Second, "the old consumer hearing of a new instance", registrytest.HasIDs("after", "before"))
	t.Logf("recovery after restart: provider registered again %v after the server was up; consumer notified %v after", reregistered.Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
}

func TestConsumersKeepCallingWithZeroFailuresWhileNacosIsDown(t *testing.T) {
	testenv.SkipUnderRaceLocally(t, sdkRaceMessage)
	if testing.Short() {
		t.Skip("kills a server")
	}
	srv := testenv.StartNacos(t)
	svc := registrytest.ServiceName(t)
	provReg := open(t, srv, sdkDir(t))
	echotest.Serve(t, provReg, svc, "a", testLogger(t))
	echotest.Serve(t, provReg, svc, "b", testLogger(t))

	consReg := registry.NewFailover(open(t, srv, sdkDir(t)), registry.WithFailoverLogger(testLogger(t)))
	conn, err := rpc.Dial(ctxFor(t), "tianshu:///"+svc, rpc.WithDiscovery(consReg), rpc.WithDialLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := testpb.NewEchoClient(conn)
	echotest.WaitServedBy(t, client, 30*time.Second, "a", "b")

	load := echotest.StartLoad(client, 4)
	time.Sleep(300 * time.Millisecond)
	rate := load.Rate(time.Second)
	srv.Kill()
	down, atKill := time.Now(), load.Calls()
	time.Sleep(8 * time.Second) // longer than the SDK's 5 s health check: it knows the server is gone
	during, outage := load.Calls()-atKill, time.Since(down)
	srv.Restart(t, false)
	time.Sleep(time.Second)
	calls, failed, first := load.Stop()
	if failed != 0 {
		t.Fatalf("%d of %d calls failed while Nacos was down; first: %v", failed, calls, first)
	}
	// No call failed, so all of these succeeded; a quarter of the pace before the outage
	// leaves room for a loaded machine and fails callers that stalled through it.
	if want := int64(rate * outage.Seconds() / 4); during < want {
		t.Fatalf("%d calls in the %v Nacos was down, want at least %d (a quarter of the %.0f/s before): the callers stalled",
			during, outage.Round(time.Millisecond), want, rate)
	}
	t.Logf("%d calls, none failed; %d in the %v Nacos was down (%.0f/s before it)", calls, during, outage.Round(time.Millisecond), rate)
}

func TestRegistrationRetriesWithCappedBackoffAndNoSpinWhileNacosIsDown(t *testing.T) {
	testenv.SkipUnderRaceLocally(t, sdkRaceMessage)
	if testing.Short() {
		t.Skip("kills a server")
	}
	srv := testenv.StartNacos(t)
	prov, cons := open(t, srv, sdkDir(t)), open(t, srv, sdkDir(t))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "early", 7001)); err != nil {
		t.Fatal(err)
	}
	f := follow(t, cons, svc)
	f.Until(20*time.Second, "early", registrytest.HasIDs("early"))

	srv.Kill()
	eventually(t, 30*time.Second, "the provider to notice the server is gone", func() bool { return !prov.Healthy() })
	err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "late", 7002))
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Register while the server is down = %v, want ErrUnavailable", err)
	}
	const window = 4 * time.Second
	cpu0, wall0 := pairbench.CPUTime(), time.Now()
	time.Sleep(window)
	cpu, wall := pairbench.CPUTime()-cpu0, time.Since(wall0)
	t.Logf("CPU while down with a registration pending: %v over %v (%.1f%% of one core)", cpu, wall.Round(time.Millisecond), 100*cpu.Seconds()/wall.Seconds())
	// A spinning retry loop burns a whole core; the SDK's reconnect loop and our backoff
	// together use a few percent. The bound is loose so that a loaded machine never fails it.
	if cpu > wall/2 {
		t.Fatalf("the process used %v of CPU in %v while the server was down: something spins", cpu, wall)
	}
	srv.Restart(t, false)
	f.Until(60*time.Second, "early and late once the server is back", registrytest.HasIDs("early", "late"))
}
