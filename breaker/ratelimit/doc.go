// Package ratelimit protects a gRPC server from more calls than it can serve: server
// interceptors refuse calls over a [Limiter] with codes.ResourceExhausted before the handler
// runs. [TokenBucket] caps a method's rate; [Adaptive] sheds load when calls in flight exceed
// the capacity it measures, as BBR-style limiters do.
//
// The shortest use:
//
//	bucket, err := ratelimit.NewTokenBucket(100, 20) // 100 calls a second, bursts of 20
//	if err != nil { ... }
//	overload, err := ratelimit.NewAdaptive()
//	if err != nil { ... }
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(ratelimit.UnaryServerInterceptor(
//		ratelimit.ForMethod("/shop.Orders/Place", bucket), ratelimit.ForAll(overload))))
package ratelimit
