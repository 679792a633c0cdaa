package nacos_test

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// gate forwards a Nacos server's HTTP and gRPC ports (P and P+1000) and can keep clients
// out, so that a test decides which clients reconnect first after a restart.
type gate struct {
	Addr string
	lns  []net.Listener
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]bool
}

func newGate(t *testing.T, srv *testenv.Nacos) *gate {
	t.Helper()
	g := &gate{conns: map[net.Conn]bool{}}
	for range 50 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1000))
		if err != nil {
			_ = a.Close()
			continue
		}
		g.Addr, g.lns = a.Addr().String(), []net.Listener{a, b}
		break
	}
	if g.lns == nil {
		t.Fatal("no free pair of ports P and P+1000")
	}
	for i, ln := range g.lns {
		target := net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port+1000*i))
		g.wg.Add(1)
		go g.serve(ln, target)
	}
	t.Cleanup(func() {
		for _, ln := range g.lns {
			_ = ln.Close()
		}
		g.setClosed(true)
		g.wg.Wait()
	})
	return g
}

func (g *gate) serve(ln net.Listener, target string) {
	defer g.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			_ = c.Close()
			continue
		}
		g.conns[c] = true
		g.mu.Unlock()
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			up, err := net.DialTimeout("tcp", target, time.Second)
			if err != nil {
				g.drop(c)
				return
			}
			g.mu.Lock()
			g.conns[up] = true
			g.mu.Unlock()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
			<-done
			g.drop(c)
			g.drop(up)
			<-done
		}()
	}
}

func (g *gate) drop(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	_ = c.Close()
}

// setClosed cuts every forwarded connection and refuses new ones, or lets them in again.
func (g *gate) setClosed(closed bool) {
	g.mu.Lock()
	g.closed = closed
	var cut []net.Conn
	if closed {
		for c := range g.conns {
			cut = append(cut, c)
		}
	}
	g.mu.Unlock()
	for _, c := range cut {
		_ = c.Close()
	}
}

func TestAConsumerPublishesNoShrinkWhenItReconnectsBeforeTheProviders(t *testing.T) {
	testenv.SkipUnderRaceLocally(t, sdkRaceMessage)
	if testing.Short() {
		t.Skip("restarts a server")
	}
	srv := testenv.StartNacos(t)
	g := newGate(t, srv)
	svc := registrytest.ServiceName(t)
	// The providers reach the server through the gate, the consumer directly.
	provs := map[string]*nacos.Registry{}
	for i, id := range []string{"a", "b", "c"} {
		r, err := nacos.New(ctxFor(t), []string{g.Addr}, base(t, sdkDir(t))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		testenv.AwaitNacosSDKEvents(t)
		if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, id, 7001+i)); err != nil {
			t.Fatal(err)
		}
		provs[id] = r
	}
	cons := open(t, srv, sdkDir(t))
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	rec := registrytest.Record(t, w)
	last := rec.Last
	eventually(t, 20*time.Second, "a, b and c listed", func() bool { return registrytest.HasIDs("a", "b", "c")(last()) })
	before := rec.Count()

	// The server restarts and forgets every instance; the consumer reconnects at once and
	// subscribes again, the providers only once the gate lets them in. c never comes back.
	g.setClosed(true)
	srv.Restart(t, true)
	eventually(t, 30*time.Second, "the consumer connected again", cons.Healthy)
	reconnected := time.Now()
	_ = provs["c"].Close()
	time.Sleep(time.Second) // the consumer's subscription is answered meanwhile
	g.setClosed(false)

	eventually(t, 30*time.Second, "c dropped after the hold", func() bool { return registrytest.HasIDs("a", "b")(last()) })
	got, at := rec.Since(before)
	var seen []string
	for _, l := range got {
		seen = append(seen, registrytest.IDs(l))
	}
	for i, l := range got[:len(got)-1] {
		if !registrytest.HasIDs("a", "b", "c")(l) {
			t.Fatalf("after the restart the consumer published %s (list %d of %v), want a, b and c until the hold ends", registrytest.IDs(l), i, seen)
		}
	}
	t.Logf("lists after the restart: %v; c dropped %v after the consumer reconnected", seen, at[len(at)-1].Sub(reconnected).Round(time.Millisecond))
}
