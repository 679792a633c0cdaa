package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
)

// Errors a registry returns, wrapped with details; test for them with errors.Is.
var (
	// ErrInvalidInstance: an instance, endpoint, service name or ID is malformed.
	ErrInvalidInstance = errors.New("registry: invalid instance")
	// ErrWatcherStopped: Next was called on, or blocked in, a stopped watcher.
	ErrWatcherStopped = errors.New("registry: watcher stopped")
	// ErrClosed: the registry was closed.
	ErrClosed = errors.New("registry: closed")
	// ErrUnavailable: the backend cannot be reached or is unusable (a server down, a
	// directory that cannot be read).
	ErrUnavailable = errors.New("registry: backend unavailable")
	// ErrUnknownScheme: Open was given a URL whose scheme no imported backend registered.
	ErrUnknownScheme = errors.New("registry: unknown URL scheme")
)

// Registrar announces instances of the services this process provides.
//
// Both methods may be called from any goroutine and may block on the backend for as long as
// ctx allows. Register of an instance ID already registered through this Registrar replaces
// its data. Deregister of an instance that is not registered returns nil, so shutdown paths
// need no bookkeeping. While the server cannot be reached, Register keeps the instance and
// registers it once the server is back, returning an error wrapping ErrUnavailable meanwhile
// (see the package documentation).
type Registrar interface {
	Register(ctx context.Context, in *Instance) error
	Deregister(ctx context.Context, in *Instance) error
}

// Discovery reads the instances of a service.
type Discovery interface {
	// GetService returns the current instances of a service, sorted by ID. A service
	// nobody registered has an empty list and no error.
	GetService(ctx context.Context, service string) ([]*Instance, error)
	// Watch starts following a service. ctx bounds only the start (the first read of
	// the backend); the watch lasts until Watcher.Stop or the registry's Close. While the
	// server cannot be reached, Watch still returns a Watcher, which delivers once it is
	// (see the package documentation).
	Watch(ctx context.Context, service string) (Watcher, error)
}

// Watcher follows the instances of one service. Its methods may be called from any
// goroutine, but Next from one goroutine at a time.
type Watcher interface {
	// Next returns the full current list of instances, sorted by ID, never a delta. The
	// first call returns at once, even when the list is empty; each later call blocks
	// until the list differs from the one last returned, or the watcher stops, when it
	// returns ErrWatcherStopped. Other errors are the backend's; a caller may keep calling
	// Next after them. Callers must not change the instances returned.
	Next() ([]*Instance, error)
	// Stop ends the watch and unblocks a pending Next. It is idempotent.
	Stop() error
}

// Registry is a backend: it registers instances and discovers them. Close deregisters
// what this Registry registered, stops its watchers, and releases its connections.
type Registry interface {
	Registrar
	Discovery
	Close() error
}

// HealthReporter is implemented by backends that know whether their server is reachable.
// Failover uses it to tell "every instance is gone" from "the backend is blind".
type HealthReporter interface {
	Healthy() bool
}

// Opener opens a backend from a URL such as zookeeper://127.0.0.1:2181/tianshu?timeout=5s.
// Each backend documents the URL parameters it reads. It must not wait for an unreachable
// server for more than about a second (see the package documentation).
type Opener func(ctx context.Context, u *url.URL) (Registry, error)

// The one process-wide table of this kind in Tianshu, filled by backends' init functions as
// database/sql drivers fill theirs.
var (
	schemesMu sync.RWMutex
	schemes   = map[string]Opener{}
)

// RegisterScheme makes a backend available to Open under a URL scheme. Backends call it from
// init; it panics if the scheme is empty, the opener nil, or the scheme taken, because that is
// a programming error found at start-up.
func RegisterScheme(scheme string, open Opener) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	if scheme == "" || open == nil {
		panic("registry: RegisterScheme with an empty scheme or nil opener")
	}
	if _, dup := schemes[scheme]; dup {
		panic("registry: RegisterScheme called twice for scheme " + scheme)
	}
	schemes[scheme] = open
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	schemesMu.RLock()
	defer schemesMu.RUnlock()
	out := make([]string, 0, len(schemes))
	for s := range schemes {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Open opens the backend named by the URL's scheme. The backend's package must be imported
// (often as _ "github.com/tianshu-go/tianshu/registry/file") so that its scheme is registered;
// otherwise the error wraps ErrUnknownScheme and lists the schemes that are. On error the
// Registry is nil, whatever the backend returned.
func Open(ctx context.Context, rawURL string) (Registry, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("registry: parse URL %q: %w", rawURL, err)
	}
	schemesMu.RLock()
	open, ok := schemes[u.Scheme]
	schemesMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q in %q (registered: %v; import the backend package)", ErrUnknownScheme, u.Scheme, rawURL, Schemes())
	}
	reg, err := open(ctx, u)
	if err != nil {
		// An opener that returns its constructor's result directly hands back a nil
		// *Registry in a non-nil interface; callers test reg != nil before Close.
		return nil, err
	}
	if reg == nil {
		return nil, fmt.Errorf("%w: the %q backend returned neither a registry nor an error", ErrUnavailable, u.Scheme)
	}
	return reg, nil
}
