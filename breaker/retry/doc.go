// Package retry retries failed gRPC unary calls by per-method [Policy]: capped exponential
// backoff with jitter, only for retryable codes and idempotent methods, within the caller's
// deadline, and within a [Budget] that caps retries at a share of calls so that a failing
// upstream is not hit by a retry storm.
//
// The shortest use, retrying one idempotent method with the defaults, outside the breaker:
//
//	retrier, err := retry.UnaryClientInterceptor(
//		retry.WithMethod("/shop.Catalog/GetItem", retry.DefaultPolicy()))
//	if err != nil { ... }
//	conn, err := grpc.NewClient(target, ...,
//		grpc.WithChainUnaryInterceptor(retrier, breaker.UnaryClientInterceptor(g)))
package retry
