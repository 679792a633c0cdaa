package registry

import "time"

// DeregisterDelayer is a backend whose consumers learn of a deregistration late, through
// caches the server and the clients keep (Eureka's), and that says how long a server
// should keep serving after it deregistered. rpc.NewServer and rest.NewServer use it,
// found with Find, unless they are given a delay of their own.
type DeregisterDelayer interface {
	DeregisterDelay() time.Duration
}

// Find returns the first registry in r's chain of wrappers that is a T, following the
// Unwrap() Registry method of wrappers such as Failover, as errors.As follows wrapped
// errors. Packages use it to find an optional ability of a backend (an interface of their
// own) that a wrapper does not pass on.
func Find[T any](r any) (T, bool) {
	for r != nil {
		if t, ok := r.(T); ok {
			return t, true
		}
		u, ok := r.(interface{ Unwrap() Registry })
		if !ok {
			break
		}
		next := u.Unwrap()
		if next == nil {
			break
		}
		r = next
	}
	var zero T
	return zero, false
}
