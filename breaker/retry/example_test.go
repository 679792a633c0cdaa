package retry_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker/retry"
)

// Retry an idempotent read twice at most, and never spend more than a fifth of calls on
// retries.
func ExampleUnaryClientInterceptor() {
	budget, err := retry.NewBudget(0.2, 5)
	if err != nil {
		log.Fatal(err)
	}
	policy := retry.DefaultPolicy()
	policy.InitialBackoff = time.Millisecond
	retrier, err := retry.UnaryClientInterceptor(
		retry.WithMethod("/shop.Catalog/GetItem", policy),
		retry.WithBudget(budget))
	if err != nil {
		log.Fatal(err)
	}
	// In a program: grpc.NewClient(target, grpc.WithChainUnaryInterceptor(retrier,
	// breakerInterceptor)).
	attempts := 0
	upstream := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
		attempts++
		if attempts < 3 {
			return status.Error(codes.Unavailable, "restarting")
		}
		return nil
	}
	err = retrier(context.Background(), "/shop.Catalog/GetItem", nil, nil, nil, upstream)
	fmt.Println(err, attempts)
	// Output: <nil> 3
}
