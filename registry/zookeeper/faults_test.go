package zookeeper_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// recoveryBound is how long recovery after a fault may take: the issue asks for the session
// timeout plus 2 s; the rest is margin for a loaded machine running -race.
const recoveryBound = testSessionTimeout + 8*time.Second

// expire ends the session of a Registry dialled through sniff, from a second connection.
func expire(t *testing.T, addr string, r *zookeeper.Registry, sniff *sessionSniffer) int64 {
	t.Helper()
	defer sniff.setRefuse(false)
	return expireAndKeepOut(t, addr, r, sniff)
}

// expireAndKeepOut ends the session like expire, and leaves the Registry unable to connect
// until the test calls sniff.setRefuse(false).
func expireAndKeepOut(t *testing.T, addr string, r *zookeeper.Registry, sniff *sessionSniffer) int64 {
	t.Helper()
	id, passwd := sniff.session()
	if id == 0 || id != r.SessionID() {
		t.Fatalf("sniffed session %#x, Registry has %#x", id, r.SessionID())
	}
	sniff.setRefuse(true)
	if err := testenv.ExpireZooKeeperSession(addr, id, passwd); err != nil {
		t.Fatalf("expire session %#x: %v", id, err)
	}
	return id
}

func TestSessionExpiryOfAProviderReRegistersItsInstances(t *testing.T) {
	srv := zkServer.Get(t)
	sniff := &sessionSniffer{}
	prov := open(t, srv.Addr, zookeeper.WithDialer(sniff.dial))
	cons := open(t, srv.Addr)
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(recoveryBound, "a", registrytest.HasIDs("a"))

	old := expire(t, srv.Addr, prov, sniff)
	start := time.Now()
	f.Until(recoveryBound, "a gone with the expired session", registrytest.HasIDs())
	f.Until(recoveryBound, "a back in the new session", registrytest.HasIDs("a"))
	t.Logf("provider listed again %v after its session expired", time.Since(start).Round(time.Millisecond))
	if sid := prov.SessionID(); sid == old || sid == 0 {
		t.Fatalf("provider session after expiry = %#x, old %#x", sid, old)
	}
	owner := nodeOwner(t, srv.Addr, "/tianshu/"+svc+"/providers/a")
	if owner != prov.SessionID() {
		t.Fatalf("node owner = %#x, want the new session %#x", owner, prov.SessionID())
	}
	// The provider keeps working in the new session.
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatal(err)
	}
	f.Until(recoveryBound, "a and b", registrytest.HasIDs("a", "b"))
}

func TestSessionExpiryOfAConsumerReArmsItsWatches(t *testing.T) {
	srv := zkServer.Get(t)
	sniff := &sessionSniffer{}
	prov := open(t, srv.Addr)
	cons := open(t, srv.Addr, zookeeper.WithDialer(sniff.dial))
	svc := registrytest.ServiceName(t)
	a := registrytest.NewInstance(svc, "a", 7001)
	if err := prov.Register(ctxFor(t), a); err != nil {
		t.Fatal(err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(recoveryBound, "a", registrytest.HasIDs("a"))

	old := expire(t, srv.Addr, cons, sniff)
	eventually(t, recoveryBound, "a new consumer session", func() bool {
		sid := cons.SessionID()
		return sid != 0 && sid != old && cons.Healthy()
	})
	// Both watches, the child watch and a's data watch, must work in the new session.
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatal(err)
	}
	f.Until(recoveryBound, "a and b after the consumer's session expired", registrytest.HasIDs("a", "b"))
	a2 := a.Clone()
	a2.Weight = 3
	if err := prov.Register(ctxFor(t), a2); err != nil {
		t.Fatal(err)
	}
	f.Until(recoveryBound, "a's new weight", func(l []*registry.Instance) bool {
		return registrytest.HasIDs("a", "b")(l) && l[0].Weight == 3
	})
}

func TestANodeLeftByAnotherSessionIsReplaced(t *testing.T) {
	srv := zkServer.Get(t)
	other := rawConn(t, srv.Addr)
	svc := registrytest.ServiceName(t)
	p := "/tianshu/" + svc + "/providers/a"
	for _, q := range []string{"/tianshu", "/tianshu/" + svc, "/tianshu/" + svc + "/providers"} {
		if _, err := other.Create(q, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	if _, err := other.Create(p, []byte("stale"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	prov := open(t, srv.Addr)
	in := registrytest.NewInstance(svc, "a", 7001)
	if err := prov.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	if owner := nodeOwner(t, srv.Addr, p); owner != prov.SessionID() {
		t.Fatalf("node owner = %#x, want the Registry's session %#x", owner, prov.SessionID())
	}
	list, err := prov.GetService(ctxFor(t), svc)
	if err != nil || len(list) != 1 || !list[0].Equal(in) {
		t.Fatalf("GetService = %s, %v; want a", registrytest.IDs(list), err)
	}
}

func nodeOwner(t *testing.T, addr, p string) int64 {
	t.Helper()
	_, st, err := rawConn(t, addr).Get(p)
	if err != nil {
		t.Fatalf("get %s: %v", p, err)
	}
	return st.EphemeralOwner
}

func TestAGarbageNodeIsSkippedAndLoggedOnce(t *testing.T) {
	srv := zkServer.Get(t)
	var logs logBuffer
	prov := open(t, srv.Addr)
	cons := open(t, srv.Addr, zookeeper.WithLogger(logs.logger(-4)))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, srv.Addr)
	garbage := map[string][]byte{
		"junk":  []byte("not json at all"),
		"wrong": []byte(`{"format":1,"instance":{"id":"other","service":"` + svc + `","endpoints":["grpc://127.0.0.1:1"]}}`),
	}
	for name, data := range garbage {
		if _, err := raw.Create("/tianshu/"+svc+"/providers/"+name, data, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Delete("/tianshu/"+svc+"/providers/"+name, -1) })
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(recoveryBound, "only a", registrytest.HasIDs("a"))
	// More changes make the consumer read the service again; the garbage stays logged once.
	for _, id := range []string{"b", "c"} {
		if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, id, 7002)); err != nil {
			t.Fatal(err)
		}
	}
	f.Until(recoveryBound, "a, b and c", registrytest.HasIDs("a", "b", "c"))
	if _, err := cons.GetService(ctxFor(t), svc); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for name := range garbage {
		if n := strings.Count(out, "providers/"+name+" "); n != 1 {
			t.Errorf("node %s logged %d times, want once; log:\n%s", name, n, out)
		}
	}
}

func TestWrongCredentialsAreAClearError(t *testing.T) {
	srv := zkServer.Get(t)
	root := "/" + registrytest.ServiceName(t)
	owner := open(t, srv.Addr, zookeeper.WithRoot(root), zookeeper.WithAuth("ops", "s3cret"))
	svc := registrytest.ServiceName(t)
	if err := owner.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []zookeeper.Option
		want string
	}{
		{"a wrong password", []zookeeper.Option{zookeeper.WithAuth("ops", "guess")}, "wrong password"},
		{"no credentials", nil, "none were given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := zookeeper.New(ctxFor(t), []string{srv.Addr}, append(tc.opts, zookeeper.WithRoot(root), zookeeper.WithLogger(testLogger(t)))...)
			if !errors.Is(err, zookeeper.ErrNoAuth) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrNoAuth saying %q", err, tc.want)
			}
		})
	}
	// The right password reads what the owner registered, through the same digest ACL.
	reader := open(t, srv.Addr, zookeeper.WithRoot(root), zookeeper.WithAuth("ops", "s3cret"))
	list, err := reader.GetService(ctxFor(t), svc)
	if err != nil || len(list) != 1 {
		t.Fatalf("GetService with the right password = %s, %v", registrytest.IDs(list), err)
	}
	raw := rawConn(t, srv.Addr)
	if err := raw.AddAuth("digest", []byte("ops:s3cret")); err != nil {
		t.Fatal(err)
	}
	acl, _, err := raw.GetACL(root + "/" + svc + "/providers/a")
	if err != nil || len(acl) != 1 || acl[0].Scheme != "digest" || !strings.HasPrefix(acl[0].ID, "ops:") {
		t.Fatalf("ACL of the provider node = %+v, %v; want digest ops only", acl, err)
	}
}

func TestCredentialsAreResentAfterSessionExpiry(t *testing.T) {
	srv := zkServer.Get(t)
	root := "/" + registrytest.ServiceName(t)
	sniff := &sessionSniffer{}
	prov := open(t, srv.Addr, zookeeper.WithRoot(root), zookeeper.WithAuth("ops", "s3cret"), zookeeper.WithDialer(sniff.dial))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	old := expire(t, srv.Addr, prov, sniff)
	eventually(t, recoveryBound, "the node re-created under the digest ACL", func() bool {
		_, st, err := rawConn(t, srv.Addr).Exists(root + "/" + svc + "/providers/a")
		return err == nil && st.EphemeralOwner != 0 && st.EphemeralOwner != old && st.EphemeralOwner == prov.SessionID()
	})
	// Creating under the protected parent needs the credentials in the new session.
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatalf("Register in the new session: %v", err)
	}
}

func TestPausedServerExpiresSessionsAndBothSidesRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses a server for several seconds")
	}
	srv := testenv.StartZooKeeper(t)
	const session = 2 * time.Second
	prov := open(t, srv.Addr, zookeeper.WithSessionTimeout(session))
	cons := open(t, srv.Addr, zookeeper.WithSessionTimeout(session))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(recoveryBound, "a", registrytest.HasIDs("a"))
	provSession, consSession := prov.SessionID(), cons.SessionID()

	srv.Pause()
	time.Sleep(3 * session)
	srv.Resume()
	start := time.Now()
	eventually(t, recoveryBound, "both Registries healthy again", func() bool { return prov.Healthy() && cons.Healthy() })
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatal(err)
	}
	f.Until(recoveryBound, "a and b after the pause", registrytest.HasIDs("a", "b"))
	t.Logf("recovered %v after SIGCONT; provider session %#x -> %#x, consumer %#x -> %#x",
		time.Since(start).Round(time.Millisecond), provSession, prov.SessionID(), consSession, cons.SessionID())
}

func TestReconnectionWaitsBetweenAttemptsWhileTheServerIsDown(t *testing.T) {
	// A port nobody listens on: every dial fails at once, so only the backoff paces them.
	addr := "127.0.0.1:" + itoa(testenv.FreePort(t))
	sniff := &sessionSniffer{}
	var logs logBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err := zookeeper.New(ctx, []string{addr}, zookeeper.WithDialer(sniff.dial), zookeeper.WithLogger(logs.logger(0)))
	if err != nil {
		t.Fatalf("New with no server = %v, want a Registry that keeps connecting", err)
	}
	defer r.Close()
	if r.Healthy() {
		t.Fatal("Healthy with no server")
	}
	if _, err := r.GetService(ctx, "orders"); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("GetService with no server = %v, want ErrUnavailable", err)
	}
	time.Sleep(3 * time.Second)
	// go-zookeeper waits a second between rounds, our backoff adds more: a busy loop would
	// dial thousands of times.
	if n := sniff.dialCount(); n > 6 {
		t.Fatalf("%d dials in 3 s with the server down, want a handful", n)
	}
	if out := logs.String(); strings.Contains(out, "go-zookeeper") || strings.Count(out, "level=WARN") != 1 {
		t.Fatalf("want one warning and no go-zookeeper chatter at info level; log:\n%s", out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestAConsumerPublishesNoShrinkWhenItsSessionExpiresWithTheProviders(t *testing.T) {
	srv := zkServer.Get(t)
	svc := registrytest.ServiceName(t)
	ids := []string{"a", "b", "c"}
	provs := make([]*zookeeper.Registry, len(ids))
	sniffs := make([]*sessionSniffer, len(ids))
	for i, id := range ids {
		sniffs[i] = &sessionSniffer{}
		provs[i] = open(t, srv.Addr, zookeeper.WithDialer(sniffs[i].dial))
		if err := provs[i].Register(ctxFor(t), registrytest.NewInstance(svc, id, 7001+i)); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer holds a shrink for its session timeout: long enough for the providers,
	// which need two rounds of reconnection once let in, on a loaded machine.
	const hold = 8 * time.Second
	consSniff := &sessionSniffer{}
	cons := open(t, srv.Addr, zookeeper.WithDialer(consSniff.dial), zookeeper.WithSessionTimeout(hold))
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	rec := registrytest.Record(t, w)
	eventually(t, recoveryBound, "a, b and c listed", func() bool { return registrytest.HasIDs("a", "b", "c")(rec.Last()) })
	before := rec.Count()

	// The consumer's session ends first, so that it hears of no deletion while it has one;
	// then the providers', which deletes their nodes. Nobody can reconnect meanwhile.
	oldCons := expireAndKeepOut(t, srv.Addr, cons, consSniff)
	for i := range provs {
		expireAndKeepOut(t, srv.Addr, provs[i], sniffs[i])
	}
	// c's provider does not come back.
	_ = provs[2].Close()

	// The consumer gets its new session before the providers get theirs, and finds no node.
	start := time.Now()
	consSniff.setRefuse(false)
	eventually(t, recoveryBound, "a new consumer session", func() bool {
		sid := cons.SessionID()
		return sid != 0 && sid != oldCons && cons.Healthy()
	})
	eventually(t, recoveryBound, "the consumer reading no provider", func() bool {
		list, err := cons.GetService(ctxFor(t), svc)
		return err == nil && len(list) == 0
	})
	// Its watch reads the providers within milliseconds of the new session, and the
	// providers, once let in, need a second or more: they first learn that their session
	// expired, then wait go-zookeeper's second before asking for a new one.
	for i := range 2 {
		sniffs[i].setRefuse(false)
	}
	eventually(t, recoveryBound, "a and b re-registered", func() bool {
		list, err := cons.GetService(ctxFor(t), svc)
		return err == nil && registrytest.HasIDs("a", "b")(list)
	})
	// c is gone for good: the consumer drops it at the end of the hold window, a session
	// timeout after its new session.
	eventually(t, hold+recoveryBound, "c dropped after the hold", func() bool {
		return registrytest.HasIDs("a", "b")(rec.Last())
	})
	lists, times := rec.Since(before)
	for i, list := range lists[:len(lists)-1] {
		if !registrytest.HasIDs("a", "b", "c")(list) {
			t.Fatalf("after the sessions expired the consumer published %s (list %d of %s), want a, b and c until the hold ends",
				registrytest.IDs(list), i, listsString(lists))
		}
	}
	if held := times[len(times)-1].Sub(start); held < hold {
		t.Fatalf("c dropped %v after the consumer could reconnect, want no earlier than its session timeout %v", held, hold)
	}
	t.Logf("lists after the expiry: %s; c dropped %v after the consumer could reconnect", listsString(lists), times[len(times)-1].Sub(start).Round(time.Millisecond))

	// After the window a removal shows at once.
	if err := provs[1].Deregister(ctxFor(t), registrytest.NewInstance(svc, "b", 7002)); err != nil {
		t.Fatal(err)
	}
	eventually(t, recoveryBound, "b deregistered", func() bool { return registrytest.HasIDs("a")(rec.Last()) })
}

func listsString(lists [][]*registry.Instance) string {
	parts := make([]string, len(lists))
	for i, l := range lists {
		parts[i] = registrytest.IDs(l)
	}
	return strings.Join(parts, " ")
}
