// Package breaker protects a caller from an upstream that is failing: it refuses calls
// locally, at once, instead of sending them to be failed slowly, and lets traffic back as the
// upstream recovers.
//
// One interface, [Breaker], and two native implementations:
//
//   - [Adaptive]: client-side throttling after Google's SRE book, the default. It sheds a
//     share of calls that grows with the upstream's failure rate, and counts only the
//     upstream's answers, never its own refusals, so it recovers as soon as the upstream does.
//   - [Circuit]: the classic three-state breaker (closed, open, half-open with bounded probes)
//     over a time or count window, with a minimum volume, a failure-ratio threshold and
//     state-change hooks.
//
// [NewAdaptive] takes [AdaptiveOption]s and [NewCircuit] takes [CircuitOption]s; an [Option]
// fits both. So an option one breaker would ignore, such as WithFailureRatio given to the
// adaptive breaker, does not compile.
//
// Package breaker/hystrix adapts github.com/afex/hystrix-go to the same interface, for teams
// that already tune hystrix settings; it is kept apart because hystrix-go holds global state
// and goroutines.
//
// [UnaryClientInterceptor] and [StreamClientInterceptor] give each gRPC method its own breaker
// from a [Group]. Only the upstream's failures count ([IsFailure]); a refused call gets
// codes.Unavailable naming the breaker, or a fallback's answer. The breaker is per method and
// not per endpoint because an interceptor runs before the balancer picks the endpoint (a
// grpc.Peer call option is filled in only after the call, too late to refuse it). Endpoint
// ejection belongs in the balancer's picker, which knows the address at pick time: it can call
// [Group.Get] with the address as key, Allow in Pick, and done(!IsFailure(info.Err)) in
// PickResult.Done.
//
// Breakers read time from a [Clock]. Reading the system clock costs more than the rest of the
// hot path, so the default is a [CoarseClock] refreshed by a ticker goroutine; a Group shares
// one among all its breakers, and Close stops it.
//
// The shortest use:
//
//	g, err := breaker.NewGroup(nil) // adaptive breakers with documented defaults
//	if err != nil { ... }
//	defer g.Close()
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(insecure.NewCredentials()),
//		grpc.WithChainUnaryInterceptor(breaker.UnaryClientInterceptor(g)),
//		grpc.WithChainStreamInterceptor(breaker.StreamClientInterceptor(g)))
//
// Retries with a budget are in package breaker/retry.
package breaker
