package eureka_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
)

// Examples here need a running Eureka server, so they are compiled but not run; the
// package's tests run the same calls against a real one.

func Example() {
	ctx := context.Background()
	reg, err := eureka.New(ctx, []string{"http://127.0.0.1:8761/eureka"},
		eureka.WithFetchInterval(5*time.Second))
	if err != nil {
		fmt.Println(err) // eureka.ErrInvalidConfig or ErrAuth; a server that is down is no error
		return
	}
	defer reg.Close()
	// A gRPC server with an HTTP port: Spring's clients call the HTTP port, Tianshu's dial
	// whichever endpoint they speak.
	_ = reg.Register(ctx, &registry.Instance{
		ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{
			{Scheme: "grpc", Host: "10.0.0.5", Port: 9000},
			{Scheme: "http", Host: "10.0.0.5", Port: 8080},
		},
	})
	w, _ := reg.Watch(ctx, "orders")
	defer w.Stop()
	list, _ := w.Next() // [orders-1]
	fmt.Println(len(list))
}

// A provider that registers before it can serve starts as STARTING, which no consumer
// lists, and turns UP once ready; OUT_OF_SERVICE takes it out of rotation without
// deregistering it.
func ExampleRegistry_SetStatus() {
	ctx := context.Background()
	reg, err := eureka.New(ctx, []string{"http://127.0.0.1:8761/eureka"},
		eureka.WithInitialStatus(eureka.StatusStarting))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	in := &registry.Instance{ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "http", Host: "10.0.0.5", Port: 8080}}}
	_ = reg.Register(ctx, in)
	// ... warm up ...
	_ = reg.SetStatus(ctx, in, eureka.StatusUp)
	// ... later, before maintenance:
	_ = reg.SetStatus(ctx, in, eureka.StatusOutOfService)
}

func ExampleParseURL() {
	// registry.Open("eureka://...") does the same with an import of this package.
	reg, err := registry.Open(context.Background(), "eureka://127.0.0.1:1/eureka?renewal_interval=30s&lease_duration=30s")
	fmt.Println(reg == nil, err != nil)
	// Output: true true
}
