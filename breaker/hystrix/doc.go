// Package hystrix adapts github.com/afex/hystrix-go to [breaker.Breaker], for teams that
// already tune hystrix settings and want to keep them while moving to Tianshu's interceptors.
//
// It is not the default, and it lives in its own package so that programs which do not import
// it carry none of hystrix-go's costs:
//
//   - hystrix-go has been unmaintained since 2018;
//   - its circuits and settings are process-wide globals keyed by command name: two adapters
//     with the same name are one circuit, and hystrix.ConfigureCommand affects every user of
//     the name;
//   - every call starts two goroutines (about 6 us and 22 allocations a call on our VMs, over
//     a hundred times the native breakers' cost; see the benchmarks in package breaker);
//   - every circuit starts two goroutines that never stop (hystrix.Flush does not stop them),
//     so circuit names must come from a fixed set: per-endpoint names leak goroutines as
//     endpoints come and go;
//   - MaxConcurrentRequests (10 by default) is fixed when a command first runs, and calls over
//     it are refused.
//
// The shortest use:
//
//	g, err := breaker.NewGroup(hystrix.Factory(&hx.CommandConfig{
//		Timeout: 2000, MaxConcurrentRequests: 100,
//	}))
//	if err != nil { ... }
//	defer g.Close()
//	conn, err := grpc.NewClient(target, ...,
//		grpc.WithChainUnaryInterceptor(breaker.UnaryClientInterceptor(g)))
package hystrix
