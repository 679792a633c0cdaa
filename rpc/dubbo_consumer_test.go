package rpc_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// consumerRegistry is a memory registry that records the Dubbo consumers it is asked to
// list, as registry/zookeeper and registry/nacos list them.
type consumerRegistry struct {
	*memory.Registry
	fail error

	mu     sync.Mutex
	listed []dubbo.Consumer
	gone   int
}

func (r *consumerRegistry) RegisterConsumer(_ context.Context, c dubbo.Consumer) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	r.listed = append(r.listed, c)
	return func() { r.mu.Lock(); r.gone++; r.mu.Unlock() }, nil
}

func (r *consumerRegistry) counts() (listed, gone int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.listed), r.gone
}

func TestADubboConnectionIsListedAsAConsumerUntilItCloses(t *testing.T) {
	reg := &consumerRegistry{Registry: newRegistry(t)}
	plain, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if n, _ := reg.counts(); n != 0 {
		t.Fatalf("a connection without WithDubbo was listed %d times", n)
	}

	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithDubbo("blue", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if n, gone := reg.counts(); n != 1 || gone != 0 {
		t.Fatalf("after Dial: listed %d, deregistered %d; want 1 and 0", n, gone)
	}
	if c := reg.listed[0]; c.Interface != "echo" || c.Group != "blue" || c.Version != "1.0.0" {
		t.Errorf("listed %+v, want interface echo, group blue, version 1.0.0", c)
	}
	// Idle is not gone: the entry stays while the channel has no resolver.
	conn.Connect()
	time.Sleep(100 * time.Millisecond)
	if _, gone := reg.counts(); gone != 0 {
		t.Fatal("deregistered while the connection is open")
	}
	_ = conn.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, gone := reg.counts(); gone == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the consumer entry was not removed within 10 s of Close")
		}
	}
}

// The failover cache in front of a backend does not hide the backend's consumer entries.
func TestADubboConnectionThroughFailoverIsListed(t *testing.T) {
	reg := &consumerRegistry{Registry: newRegistry(t)}
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(registry.NewFailover(reg)),
		rpc.WithDubbo("", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if n, _ := reg.counts(); n != 1 {
		t.Fatalf("listed %d times through registry.NewFailover, want 1", n)
	}
}

func TestAConsumerEntryTheRegistryRefusesDoesNotFailDial(t *testing.T) {
	reg := &consumerRegistry{Registry: newRegistry(t), fail: errors.New("refused")}
	var logs testenv.Buffer
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithDubbo("", ""),
		rpc.WithDialLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatalf("Dial = %v, want a connection although the consumer entry was refused", err)
	}
	_ = conn.Close()
	if !strings.Contains(logs.String(), "err=refused") {
		t.Errorf("the refusal was not logged: %s", logs.String())
	}
}

func TestTheServerAnnouncesTheMethodsOfItsService(t *testing.T) {
	reg := newRegistry(t)
	srv := startProvider(t, reg, testpb.Echo_ServiceDesc.ServiceName, "a", 0)
	if got := waitInstance(t, srv).Metadata["methods"]; got != "Echo" {
		t.Errorf("methods = %q, want Echo", got)
	}
	own := startProvider(t, reg, testpb.Echo_ServiceDesc.ServiceName, "b", 0, rpc.WithMetadata(map[string]string{"methods": "Mine"}))
	if got := waitInstance(t, own).Metadata["methods"]; got != "Mine" {
		t.Errorf("methods = %q, want WithMetadata's Mine", got)
	}
	other := startProvider(t, reg, "orders", "c", 0)
	if got, ok := waitInstance(t, other).Metadata["methods"]; ok {
		t.Errorf("methods = %q for a service name no gRPC service has, want none", got)
	}
}

func waitInstance(t *testing.T, srv *rpc.Server) *registry.Instance {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if in := srv.Instance(); in != nil {
			return in
		}
	}
	t.Fatal("the server announced no instance within 10 s")
	return nil
}
