package loadbalance

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"google.golang.org/grpc/resolver"
)

func TestBalancerLogsThroughTheLoggerInTheResolverState(t *testing.T) {
	bs := startBackends(t, 1)
	var out testenv.Buffer
	state := WithLogger(resolver.State{Endpoints: []resolver.Endpoint{endpointOf(bs[0], instance(0, "", "v1", ""))}},
		slog.New(slog.NewTextHandler(&out, nil)).With("conn", "orders"))
	c, r := dial(t, Config{Version: "v9"}.ServiceConfig(P2C), nil)
	r.UpdateState(state)
	// The call fails (no instance is of version v9) and makes sure the balancer has the state.
	if err := emptyCall(t.Context(), c); err == nil {
		t.Fatal("a call succeeded with no instance of the wanted version")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "no instance passes the version filter") {
		if time.Now().After(deadline) {
			t.Fatalf("the balancer's warning did not reach the logger in the resolver state within 10s; it holds %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"conn=orders", "balancer=" + P2C, "target=lbtest:///svc"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the warning lacks %s: %q", want, out.String())
		}
	}
}

func TestWithLoggerKeepsAStateWithoutOne(t *testing.T) {
	if got := loggerOf(WithLogger(resolver.State{}, nil)); got != nil {
		t.Fatalf("WithLogger(nil) stored %v", got)
	}
}
