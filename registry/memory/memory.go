// Package memory is an in-process registry for tests of code that uses a registry, and for
// programs whose providers and consumers share one process.
//
//	reg := memory.New()
//	defer reg.Close()
//	_ = reg.Register(ctx, &registry.Instance{ID: "a", Service: "orders",
//		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}}})
//
// Share gives another handle onto the same store, behaving as a second process would: its
// Close deregisters only what it registered. The package is not a fake of any real backend;
// backends are tested against their real servers.
package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/tianshu-go/tianshu/registry"
)

// store is the data shared by every handle made by New and Share.
type store struct {
	mu       sync.Mutex
	services map[string]*service
}

type service struct {
	instances map[string]*registry.Instance
	bc        *registry.Broadcast
}

// Registry is a handle onto an in-process store. The zero value is not usable; call New.
type Registry struct {
	s *store

	// Guarded by s.mu.
	closed   bool
	mine     map[[2]string]bool // service, ID registered through this handle
	watchers map[registry.Watcher]bool
}

var _ registry.Registry = (*Registry)(nil)

// New returns a handle onto a new, empty store.
func New() *Registry {
	return (&store{services: map[string]*service{}}).handle()
}

// Share returns a new handle onto the same store.
func (r *Registry) Share() *Registry { return r.s.handle() }

func (s *store) handle() *Registry {
	return &Registry{s: s, mine: map[[2]string]bool{}, watchers: map[registry.Watcher]bool{}}
}

// svc returns the service's state, creating it; s.mu must be held.
func (s *store) svc(name string) *service {
	sv, ok := s.services[name]
	if !ok {
		sv = &service{instances: map[string]*registry.Instance{}, bc: registry.NewBroadcast(nil)}
		s.services[name] = sv
	}
	return sv
}

func (sv *service) publish() {
	list := make([]*registry.Instance, 0, len(sv.instances))
	for _, in := range sv.instances {
		list = append(list, in)
	}
	sv.bc.Set(list)
}

// Register adds or replaces an instance. The registry keeps a copy.
func (r *Registry) Register(ctx context.Context, in *registry.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.closed {
		return fmt.Errorf("memory: register %q: %w", in.ID, registry.ErrClosed)
	}
	sv := r.s.svc(in.Service)
	sv.instances[in.ID] = in.Clone()
	r.mine[[2]string{in.Service, in.ID}] = true
	sv.publish()
	return nil
}

// Deregister removes an instance; removing one that is not there is not an error.
func (r *Registry) Deregister(ctx context.Context, in *registry.Instance) error {
	if in == nil {
		return fmt.Errorf("%w: nil instance", registry.ErrInvalidInstance)
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.closed {
		return fmt.Errorf("memory: deregister %q: %w", in.ID, registry.ErrClosed)
	}
	r.deregisterLocked(in.Service, in.ID)
	return nil
}

func (r *Registry) deregisterLocked(service, id string) {
	delete(r.mine, [2]string{service, id})
	if sv, ok := r.s.services[service]; ok {
		if _, ok := sv.instances[id]; ok {
			delete(sv.instances, id)
			sv.publish()
		}
	}
}

// GetService returns the instances of a service, sorted by ID.
func (r *Registry) GetService(ctx context.Context, name string) ([]*registry.Instance, error) {
	if err := registry.ValidateName("service", name); err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("memory: get %q: %w", name, registry.ErrClosed)
	}
	return r.s.svc(name).bc.Get(), nil
}

// Watch follows a service.
func (r *Registry) Watch(ctx context.Context, name string) (registry.Watcher, error) {
	if err := registry.ValidateName("service", name); err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("memory: watch %q: %w", name, registry.ErrClosed)
	}
	var w registry.Watcher
	w = r.s.svc(name).bc.Watch(func() {
		r.s.mu.Lock()
		delete(r.watchers, w)
		r.s.mu.Unlock()
	})
	r.watchers[w] = true
	return w, nil
}

// Close deregisters what this handle registered and stops its watchers; later calls on the
// handle return registry.ErrClosed. Other handles are not affected.
func (r *Registry) Close() error {
	r.s.mu.Lock()
	if r.closed {
		r.s.mu.Unlock()
		return nil
	}
	r.closed = true
	for k := range r.mine {
		r.deregisterLocked(k[0], k[1])
	}
	watchers := r.watchers
	r.watchers = nil
	r.s.mu.Unlock()
	for w := range watchers {
		_ = w.Stop() // runs onStop, which takes s.mu: hence outside the lock
	}
	return nil
}
