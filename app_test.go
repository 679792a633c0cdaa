package tianshu_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/admin"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type closeFunc func() error

func (f closeFunc) Close() error { return f() }

func waitListed(t *testing.T, reg registry.Discovery, service string, n int) {
	t.Helper()
	w, err := reg.Watch(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for {
		list, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == n {
			return
		}
	}
}

func TestRunServesUntilSignalledThenDeregistersAndClosesInReverseOrder(t *testing.T) {
	for _, stopBy := range []string{"context", "SIGTERM"} {
		t.Run("stopped by "+stopBy, func(t *testing.T) {
			reg := memory.New()
			defer reg.Close()
			var closed []string
			app := tianshu.New(
				tianshu.WithServer(rpc.NewServer(rpc.WithService("svc"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0)), "127.0.0.1:0"),
				tianshu.WithServer(rpc.NewServer(rpc.WithService("svc"), rpc.WithInstanceID("second"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0)), "127.0.0.1:0"),
				tianshu.WithCloser(closeFunc(func() error { closed = append(closed, "first"); return nil })),
				tianshu.WithCloser(closeFunc(func() error { closed = append(closed, "second"); return nil })),
			)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx) }()
			waitListed(t, reg, "svc", 2)
			if stopBy == "context" {
				cancel()
			} else if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return after the stop")
			}
			if list, _ := reg.GetService(context.Background(), "svc"); len(list) != 0 {
				t.Errorf("after Run, the registry still lists %v", list)
			}
			if strings.Join(closed, ",") != "second,first" {
				t.Errorf("closers ran as %v, want second,first", closed)
			}
		})
	}
}

func TestRunReportsAnAddressItCannotListenOn(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	app := tianshu.New(tianshu.WithServer(rpc.NewServer(), lis.Addr().String()))
	if err := app.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("Run on a taken port = %v, want a listen error naming the address", err)
	}
	if err := tianshu.New().Run(context.Background()); !errors.Is(err, tianshu.ErrNoServer) {
		t.Fatalf("Run with no server = %v, want ErrNoServer", err)
	}
}

// underegistrable is a registry that registers but cannot deregister, as one that went
// down while the App ran.
type underegistrable struct{ *memory.Registry }

func (underegistrable) Deregister(context.Context, *registry.Instance) error {
	return errors.New("underegistrable: the registry is down")
}

func TestRunReturnsAndLogsOnceAFailedDeregistrationWithTheOtherErrors(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	var logs testenv.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	errClose := errors.New("closer failed")
	app := tianshu.New(
		tianshu.WithServer(rpc.NewServer(rpc.WithService("svc"), rpc.WithRegistrar(underegistrable{reg}), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(log)), "127.0.0.1:0"),
		tianshu.WithServer(rpc.NewServer(rpc.WithService("svc"), rpc.WithInstanceID("fine"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(log)), "127.0.0.1:0"),
		tianshu.WithCloser(closeFunc(func() error { return errClose })),
		tianshu.WithLogger(log),
		tianshu.WithSignals(),
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	waitListed(t, reg, "svc", 2)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the stop")
	}
	if !errors.Is(err, rpc.ErrDeregister) || !errors.Is(err, errClose) {
		t.Fatalf("Run = %v, want the failed deregistration (rpc.ErrDeregister) joined with the closer's error", err)
	}
	if n := strings.Count(logs.String(), "the registry is down"); n != 1 {
		t.Errorf("the deregistration error was logged %d times, want once; logs:\n%s", n, logs.String())
	}
}

func TestTheAdminServerAnswersNotReadyWhileTheServerWithdrawsAndDrains(t *testing.T) {
	reg := memory.New()
	defer reg.Close()
	srv := rpc.NewServer(rpc.WithService("svc"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(2*time.Second))
	adm := admin.New("127.0.0.1:0", admin.WithReadiness("grpc", admin.Serving(srv.Health())))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	adminURL := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- tianshu.New(tianshu.WithComponent(adm), tianshu.WithServer(srv, "127.0.0.1:0"), tianshu.WithSignals(),
			tianshu.WithStarted(func(addrs []net.Addr) { adminURL <- "http://" + addrs[0].String() + "/readyz" })).Run(ctx)
	}()
	url := <-adminURL
	waitListed(t, reg, "svc", 1)
	if code := status(url); code != http.StatusOK {
		t.Fatalf("/readyz while serving = %d, want 200", code)
	}
	cancel()
	// The deregister delay keeps the gRPC server up for 2 s: the admin server, added
	// first, must answer 503 through it rather than refuse connections.
	sawNotReady := false
	for {
		code := status(url)
		if code == http.StatusServiceUnavailable {
			sawNotReady = true
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			if !sawNotReady {
				t.Fatal("/readyz never answered 503 during the shutdown")
			}
			if code := status(url); code != 0 {
				t.Errorf("/readyz after Run = %d, want the admin server gone", code)
			}
			return
		default:
		}
		if code == 0 && !sawNotReady {
			t.Fatal("the admin server stopped answering before /readyz turned 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status GETs url and returns the status code, 0 when nothing answers.
func status(url string) int {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
