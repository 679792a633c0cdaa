package rest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/rest"
)

// TestAppRunsTheServerAgainstEtcd runs the server as a component of tianshu.App with a real
// etcd: a consumer sees the http endpoint once the App has started, and sees it gone, while
// the server still answers, when the App stops.
func TestAppRunsTheServerAgainstEtcd(t *testing.T) {
	noLeaks(t)
	srvEtcd := testenv.StartEtcd(t) // skips naming the install command, fails with CI=true
	ctx := context.Background()
	open := func() *etcd.Registry {
		r, err := etcd.New(ctx, []string{srvEtcd.Endpoint}, etcd.WithTTL(5*time.Second), etcd.WithLogger(quiet(t)))
		if err != nil {
			t.Fatalf("etcd.New(%s): %v", srvEtcd.Endpoint, err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	provider, consumer := open(), open()

	ev := &events{}
	c := client(t, nil)
	var base string
	rec := &recordingRegistrar{Registrar: provider, ev: ev, onLeave: func() {
		// Deregistering: the port still serves requests.
		if a := getAnswer(t, c, base+"/hello"); a.status == 200 {
			ev.add("served while leaving")
		}
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })
	srv := newServer(t, mux, rest.WithRegistrar(rec), rest.WithService("greeter-etcd"),
		rest.WithDeregisterDelay(200*time.Millisecond))
	started := make(chan net.Addr, 1)
	app := tianshu.New(tianshu.WithComponent(srv), tianshu.WithSignals(), tianshu.WithLogger(quiet(t)),
		tianshu.WithStarted(func(a []net.Addr) { started <- a[0] }))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	var addr net.Addr
	select {
	case addr = <-started:
	case err := <-done:
		t.Fatalf("Run = %v before starting", err)
	}
	base = "http://" + addr.String()
	want := registry.Endpoint{Scheme: "http", Host: "127.0.0.1", Port: addr.(*net.TCPAddr).Port}
	waitFor(t, "the instance in etcd", func() bool {
		list, err := consumer.GetService(ctx, "greeter-etcd")
		return err == nil && len(list) == 1 && slices.Contains(list[0].Endpoints, want)
	})
	c.CloseIdleConnections()
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s of the stop")
	}
	c.CloseIdleConnections()
	if list, err := consumer.GetService(ctx, "greeter-etcd"); err != nil || len(list) != 0 {
		t.Fatalf("after the App stopped etcd lists %v (err %v), want nothing", list, err)
	}
	if got, want := ev.all(), []string{"register", "served while leaving", "deregister"}; !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}
