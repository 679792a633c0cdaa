package registry

import "context"

// ServiceLister is implemented by backends that can list the services they hold, for tools
// such as `tianshu registry ls` with no service named. Test for it with a type assertion.
type ServiceLister interface {
	// ListServices returns the names of the services the backend holds instances, or
	// traces of instances, for, sorted. A name may have no live instance (entries that
	// expired but were not yet removed, an empty providers node); GetService tells.
	ListServices(ctx context.Context) ([]string, error)
}
