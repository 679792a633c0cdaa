package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker"
)

// Guard a call by hand: Allow before, done after.
func ExampleNewAdaptive() {
	b, err := breaker.NewAdaptive("inventory")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	done, err := b.Allow()
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	callErr := error(nil) // the real call goes here
	done(!breaker.IsFailure(callErr))
	fmt.Println(b.Stats().State, b.Stats().Requests)
	// Output: closed 1
}

// A circuit opens once the minimum volume of calls has failed often enough.
func ExampleNewCircuit() {
	b, err := breaker.NewCircuit("payments",
		breaker.WithCountWindow(10), breaker.WithMinRequests(4), breaker.WithFailureRatio(0.5),
		breaker.WithOnStateChange(func(name string, from, to breaker.State) {
			fmt.Printf("%s: %v -> %v\n", name, from, to)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	for range 4 {
		if done, err := b.Allow(); err == nil {
			done(false)
		}
	}
	_, err = b.Allow()
	fmt.Println(err, errors.Is(err, breaker.ErrOpen))
	// Output:
	// payments: closed -> open
	// breaker payments is open true
}

// Wire per-method breakers into a gRPC client.
func ExampleUnaryClientInterceptor() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()

	g, err := breaker.NewGroup(breaker.CircuitFactory(breaker.WithMinRequests(3), breaker.WithCountWindow(3)))
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(breaker.UnaryClientInterceptor(g)),
		grpc.WithChainStreamInterceptor(breaker.StreamClientInterceptor(g)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	for range 3 { // NotFound is the caller's mistake: it does not count against the server
		_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "no-such-service"})
	}
	fmt.Println(status.Code(err), g.Stats()[0].State)
	// Output: NotFound closed
}

// Answer refused calls from somewhere else, here for a server that is down.
func ExampleWithUnaryFallback() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there any more

	fallback := func(ctx context.Context, method string, req, reply any, err error) error {
		fmt.Println("fallback for", method)
		reply.(*healthpb.HealthCheckResponse).Status = healthpb.HealthCheckResponse_UNKNOWN
		return nil
	}
	g, err := breaker.NewGroup(breaker.CircuitFactory(breaker.WithMinRequests(1)))
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(breaker.UnaryClientInterceptor(g, breaker.WithUnaryFallback(fallback))))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	_, err = client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(status.Code(err))
	resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
	fmt.Println(resp.GetStatus(), err)
	// Output:
	// Unavailable
	// fallback for /grpc.health.v1.Health/Check
	// UNKNOWN <nil>
}
