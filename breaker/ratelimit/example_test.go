package ratelimit_test

import (
	"fmt"
	"log"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/breaker/ratelimit"
)

// Cap one method's rate and shed overload across the whole server.
func ExampleUnaryServerInterceptor() {
	bucket, err := ratelimit.NewTokenBucket(100, 20)
	if err != nil {
		log.Fatal(err)
	}
	overload, err := ratelimit.NewAdaptive()
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(ratelimit.UnaryServerInterceptor(
			ratelimit.ForMethod("/shop.Orders/Place", bucket), ratelimit.ForAll(overload))),
		grpc.ChainStreamInterceptor(ratelimit.StreamServerInterceptor(ratelimit.ForAll(overload))))
	defer srv.Stop()
	fmt.Println(overload.InFlight())
	// Output: 0
}

// A token bucket admits its burst at once, then its rate.
func ExampleNewTokenBucket() {
	bucket, err := ratelimit.NewTokenBucket(1, 2)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		_, ok := bucket.Allow()
		fmt.Print(ok, " ")
	}
	fmt.Println()
	// Output: true true false
}
