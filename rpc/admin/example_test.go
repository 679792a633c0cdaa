package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/admin"
)

func ExampleNew() {
	var registered atomic.Bool
	adm := admin.New("127.0.0.1:0", admin.WithReadiness("registry", func(context.Context) error {
		if !registered.Load() {
			return errors.New("not registered yet")
		}
		return nil
	}))
	probe := func() {
		rec := httptest.NewRecorder()
		adm.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		body, _ := io.ReadAll(rec.Body)
		fmt.Printf("%d %s", rec.Code, body)
	}
	probe()
	registered.Store(true)
	probe()
	// Output:
	// 503 not ready: registry: not registered yet
	// 200 ok
}

// In a tianshu.App, the admin server is a component: added first, it is the last to stop,
// so probes see /readyz turn 503 when the rpc.Server deregisters, and get an answer until
// it has drained.
func ExampleServing() {
	srv := rpc.NewServer(rpc.WithDeregisterDelay(0))
	adm := admin.New("127.0.0.1:0", admin.WithReadiness("grpc", admin.Serving(srv.Health())))
	ctx, stop := context.WithCancel(context.Background())
	app := tianshu.New(
		tianshu.WithComponent(adm),
		tianshu.WithServer(srv, "127.0.0.1:0"),
		tianshu.WithSignals(), // stop only through ctx
		tianshu.WithStarted(func(addrs []net.Addr) {
			// addrs[0] is the admin server's, addrs[1] the gRPC server's.
			for !ready("http://" + addrs[0].String() + "/readyz") {
				time.Sleep(10 * time.Millisecond) // SERVING comes as Serve begins
			}
			fmt.Println("ready")
			stop() // a real service waits for SIGTERM
		}),
	)
	fmt.Println("stopped:", app.Run(ctx))
	// Output:
	// ready
	// stopped: <nil>
}

func ready(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
