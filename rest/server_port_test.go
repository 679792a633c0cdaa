package rest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc"
)

// The server is an App component that withdraws before any component stops.
var (
	_ tianshu.Component    = (*rest.Server)(nil)
	_ tianshu.Deregisterer = (*rest.Server)(nil)
)

func TestASharedPortServesRPCAndHTTPInOneApp(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	reg, err := file.New(ctx, t.TempDir(), file.WithLogger(quiet(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	lis := listen(t)
	port := rest.SharePort(lis)
	g := rpc.NewServer(rpc.WithRegistrar(reg), rpc.WithService("echo"), rpc.WithDeregisterDelay(0),
		rpc.WithServerLogger(quiet(t)))
	testpb.RegisterEchoServer(g, echotest.Server{ID: "shared"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hi") })
	web := newServer(t, mux, rest.WithListener(port.HTTP()), rest.WithRegistrar(reg), rest.WithService("web"))
	app := tianshu.New(tianshu.WithListener(g, port.GRPC()), tianshu.WithComponent(web), tianshu.WithSignals(),
		tianshu.WithLogger(quiet(t)))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()

	p := lis.Addr().(*net.TCPAddr).Port
	for svc, scheme := range map[string]string{"echo": "grpc", "web": "http"} {
		want := registry.Endpoint{Scheme: scheme, Host: "127.0.0.1", Port: p}
		waitFor(t, svc+" in the registry", func() bool {
			list, err := reg.GetService(ctx, svc)
			return err == nil && len(list) == 1 && slices.Contains(list[0].Endpoints, want)
		})
	}
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	reply, err := testpb.NewEchoClient(cc).Echo(cctx, &testpb.EchoRequest{Payload: []byte("hi")})
	if err != nil || reply.GetServedBy() != "shared" {
		t.Fatalf("Echo on the shared port = %v, %v", reply, err)
	}
	_ = cc.Close()
	c := client(t, nil)
	if a := getAnswer(t, c, "http://"+lis.Addr().String()+"/hello"); a.status != 200 || a.body != "hi" {
		t.Fatalf("GET /hello on the shared port = %d %q", a.status, a.body)
	}
	// A connection that sends too little to be told apart holds nothing up at shutdown.
	idle, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, "PRI * HTTP")
	c.CloseIdleConnections()

	// Closing the port closes connections still being sniffed instead of waiting out their
	// 10 s (DefaultReadHeaderTimeout) to send the bytes that tell them apart: half of that
	// is ample for the rest of the shutdown.
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(rest.DefaultReadHeaderTimeout / 2):
		t.Fatal("Run did not return within half the sniffing timeout: a half-sent preface held the shutdown")
	}
	for _, svc := range []string{"echo", "web"} {
		if list, err := reg.GetService(ctx, svc); err != nil || len(list) != 0 {
			t.Fatalf("%s after the App stopped: %v (err %v)", svc, list, err)
		}
	}
	if _, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the shared port still accepts after both servers stopped (dial error %v)", err)
	}
}
