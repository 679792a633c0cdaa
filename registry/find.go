package registry

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
