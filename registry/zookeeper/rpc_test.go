package zookeeper_test

import (
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/rpc"
)

func TestConsumerKeepsCallingKnownProvidersWhileZooKeeperIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server")
	}
	// This test kills the server under four providers' and consumers' watches; it hit
	// go-zookeeper's race (zkRaceMessage) once in about 25 runs.
	testenv.SkipUnderRaceLocally(t, zkRaceMessage)
	srv := testenv.StartZooKeeper(t)
	svc := registrytest.ServiceName(t)
	provReg := open(t, srv.Addr)
	echotest.Serve(t, provReg, svc, "a", testLogger(t))
	echotest.Serve(t, provReg, svc, "b", testLogger(t))

	consReg := registry.NewFailover(open(t, srv.Addr), registry.WithFailoverLogger(testLogger(t)))
	conn, err := rpc.Dial(ctxFor(t), "tianshu:///"+svc, rpc.WithDiscovery(consReg), rpc.WithDialLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := testpb.NewEchoClient(conn)
	echotest.WaitServedBy(t, client, 20*time.Second, "a", "b")

	load := echotest.StartLoad(client, 4)
	time.Sleep(300 * time.Millisecond)
	rate := load.Rate(time.Second)
	srv.Kill()
	down, atKill := time.Now(), load.Calls()
	// Down for longer than the session timeout: the sessions are gone for the server too.
	time.Sleep(testSessionTimeout + time.Second)
	duringOutage, outage := load.Calls()-atKill, time.Since(down)
	srv.Start(t)
	eventually(t, 30*time.Second, "both Registries healthy again", func() bool {
		return provReg.Healthy() && consReg.Healthy()
	})
	time.Sleep(300 * time.Millisecond)
	calls, failed, first := load.Stop()
	if failed != 0 {
		t.Fatalf("%d of %d calls failed while ZooKeeper was down; first: %v", failed, calls, first)
	}
	// No call failed, so all of these succeeded; a quarter of the pace before the outage
	// leaves room for a loaded machine and fails callers that stalled through it.
	if want := int64(rate * outage.Seconds() / 4); duringOutage < want {
		t.Fatalf("%d calls in the %v ZooKeeper was down, want at least %d (a quarter of the %.0f/s before): the callers stalled",
			duringOutage, outage.Round(time.Millisecond), want, rate)
	}
	list, err := consReg.GetService(ctxFor(t), svc)
	if err != nil || len(list) != 2 {
		t.Fatalf("after the outage GetService = %s, %v; want a and b", registrytest.IDs(list), err)
	}
	t.Logf("%d calls, none failed; %d in the %v ZooKeeper was down (%.0f/s before it)", calls, duringOutage, outage.Round(time.Millisecond), rate)
}
