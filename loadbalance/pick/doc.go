// Package pick holds Tianshu's load-balancing algorithms as plain Go, with no gRPC in sight:
// smooth weighted round robin, weighted random (alias method), least active, consistent hash
// and power of two choices (P2C) over latency, in-flight calls and success rate.
//
// An algorithm is built over a snapshot of endpoints and picks one by index. Live figures
// about each endpoint (calls in flight, latency, success rate, ejection after transport
// failures) sit in a Stats value that outlives snapshots: build the next snapshot with the
// same Stats pointers and nothing is forgotten. A Router puts version, tag (canary) and
// zone filters in front of an algorithm.
//
// Package loadbalance wraps these algorithms as grpc-go balancers; use this package directly
// to balance anything else (HTTP clients, database replicas).
//
// The shortest use:
//
//	eps := []pick.Endpoint{{Key: "10.0.0.1:80", Weight: 1}, {Key: "10.0.0.2:80", Weight: 3}}
//	p, err := pick.New(pick.AlgP2C, eps)
//	if err != nil { ... }
//	start := pick.MonotonicClock()
//	i := p.Pick(0, start)
//	eps[i].Stats.Begin()
//	call(eps[i].Key)
//	eps[i].Stats.EndTimed(pick.Success, start) // or Failure, Unreachable, Neutral
//
// Every Pick is safe for concurrent use and allocates nothing.
package pick
