package registrytest

import (
	"slices"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// RunServiceLister checks a backend's registry.ServiceLister. open is as Backend.Open; the
// store may hold other services too (a shared server). timeout bounds how long a
// registration may take to be listed; zero means 10 s.
func RunServiceLister(t *testing.T, open func(t testing.TB) registry.Registry, timeout time.Duration) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	writer := open(t)
	t.Cleanup(func() { _ = writer.Close() })
	reader := open(t) // another process's view: the list comes from the store
	t.Cleanup(func() { _ = reader.Close() })
	lister, ok := reader.(registry.ServiceLister)
	if !ok {
		t.Fatalf("%T does not implement registry.ServiceLister", reader)
	}
	ctx := ctx(t)
	a, b := ServiceName(t)+"-a", ServiceName(t)+"-b"
	for i, in := range []*registry.Instance{NewInstance(a, "a-1", 20001), NewInstance(b, "b-1", 20002), NewInstance(b, "b-2", 20003)} {
		if err := writer.Register(ctx, in); err != nil {
			t.Fatalf("register %d: %v", i, err)
		}
	}
	var names []string
	deadline := time.Now().Add(timeout)
	for {
		var err error
		names, err = lister.ListServices(ctx)
		if err != nil {
			t.Fatalf("ListServices: %v", err)
		}
		if slices.Contains(names, a) && slices.Contains(names, b) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListServices = %v after %v; want it to hold %s and %s", names, timeout, a, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("ListServices = %v, want sorted names without duplicates", names)
	}
	for _, n := range names {
		if err := registry.ValidateName("service", n); err != nil {
			t.Errorf("ListServices lists %q, which GetService would refuse: %v", n, err)
		}
	}
}
