package rest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest"
)

// delayingRegistry stands for a backend whose consumers learn of a deregistration late, as
// Eureka's do, and which says how long a server should keep serving.
type delayingRegistry struct {
	*memory.Registry
	delay time.Duration
}

func (r delayingRegistry) DeregisterDelay() time.Duration { return r.delay }

// Without WithDeregisterDelay, a server waits as long as its backend asks, through the
// failover cache too.
func TestTheBackendsDeregisterDelayIsTheDefault(t *testing.T) {
	const asked = rest.DefaultDeregisterDelay + 500*time.Millisecond // beyond the default
	mem := memory.New()
	t.Cleanup(func() { _ = mem.Close() })
	srv, err := rest.NewServer("127.0.0.1:0", http.NewServeMux(), rest.WithLogger(quiet(t)), rest.WithService("web"),
		rest.WithRegistrar(registry.NewFailover(delayingRegistry{Registry: mem, delay: asked})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if list, err := mem.GetService(ctx, "web"); err == nil && len(list) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server registered no instance within 10 s")
		}
	}
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < asked {
		t.Errorf("Shutdown took %v; the backend asked for a %v pause after deregistering", took, asked)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
