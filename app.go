package tianshu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// DefaultShutdownTimeout bounds the whole shutdown of an App: deregistration, the
// deregister delay, draining and closers.
const DefaultShutdownTimeout = 30 * time.Second

// ErrNoServer is returned by Run when the App has nothing to run: no WithServer,
// WithListener or WithComponent.
var ErrNoServer = errors.New("tianshu: no server to run (add tianshu.WithServer or tianshu.WithComponent)")

// Component is a part of a process that an App runs for the process's lifetime beside the
// others: an rpc.Server or any other Server on an address (WithServer adapts it), the admin
// server of package rpc/admin, an HTTP server. Run calls each method once, in this order,
// from its own goroutine unless said otherwise.
type Component interface {
	// Listen opens what the component serves from, typically its listener, and returns
	// the address it listens on (nil when it has none). It must not serve or announce
	// anything yet: Run listens every component before any serves, so that an address in
	// use ends the start before an instance is registered. Run calls Shutdown on every
	// component even if the run goes no further, also on one whose Listen failed or never
	// came (an earlier component's failed), for it to release what it holds: an
	// rpc.Server runs its stream workers from NewServer on.
	Listen(ctx context.Context) (net.Addr, error)
	// Serve serves until Shutdown and then returns nil; Run calls it in a goroutine of its
	// own. Any other return ends the run: Run shuts every component down and reports the
	// error. A component that registers itself does so here, once it accepts.
	Serve() error
	// Shutdown stops accepting, lets the work in progress finish within ctx (cancelling
	// what is left when ctx ends), and returns once the component has stopped, with what
	// went wrong on the way, a failed deregistration included. It may be called before
	// Listen or Serve, and while Serve is starting.
	Shutdown(ctx context.Context) error
}

// Deregisterer is implemented by components that announce themselves (in a registry,
// through a readiness endpoint) and can withdraw while they still serve, as rpc.Server
// does. Run calls Deregister on every such component, concurrently, before it shuts any
// component down; Deregister returns once consumers have had the time to drop the
// component (rpc.Server waits its deregister delay). Run reports a failed deregistration
// from Shutdown's return, not Deregister's: Shutdown must return it again.
type Deregisterer interface {
	Deregister(ctx context.Context) error
}

// Server is what serves on a listener the App opens (WithServer, WithListener):
// *rpc.Server and *http.Server have this shape. Serve returns nil or http.ErrServerClosed
// after Shutdown; a Server that is also a Deregisterer, as *rpc.Server is, withdraws before
// any component shuts down.
type Server interface {
	Serve(lis net.Listener) error
	Shutdown(ctx context.Context) error
}

// Option configures an App.
type Option func(*App)

// App runs components until a signal or the end of its context, then shuts them down in
// the order described at Run.
type App struct {
	components []Component
	closers    []io.Closer
	timeout    time.Duration
	signals    []os.Signal
	log        *slog.Logger
	started    func([]net.Addr)
	runOnce    sync.Once
	runError   error
}

// WithServer serves srv on a TCP address such as ":9000" or "127.0.0.1:0", which Run
// listens on before anything serves. It is the shortest way to run an rpc.Server.
func WithServer(srv Server, addr string) Option {
	return WithComponent(&onListener{srv: srv, addr: addr})
}

// WithListener serves srv on a listener the caller opened; Run closes it.
func WithListener(srv Server, lis net.Listener) Option {
	return WithComponent(&onListener{srv: srv, lis: lis})
}

// WithComponent runs c, for instance the admin server of package rpc/admin. Components
// start in the order of their options and stop in reverse (see Run).
func WithComponent(c Component) Option {
	return func(a *App) { a.components = append(a.components, c) }
}

// WithCloser closes c after every component has stopped; closers run in reverse order of
// registration, as deferred calls do.
func WithCloser(c io.Closer) Option { return func(a *App) { a.closers = append(a.closers, c) } }

// WithShutdownTimeout bounds the shutdown; see DefaultShutdownTimeout.
func WithShutdownTimeout(d time.Duration) Option { return func(a *App) { a.timeout = d } }

// WithSignals sets the signals that start a shutdown; the default is SIGINT and SIGTERM.
// With no arguments, the App stops only when Run's context ends.
func WithSignals(sigs ...os.Signal) Option { return func(a *App) { a.signals = sigs } }

// WithLogger sets the App's logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(a *App) { a.log = l } }

// WithStarted calls f once every component listens and serving has begun, with the
// addresses the components listen on in the order of their options (those with no address
// left out), which tells tests and demos the ports of servers started on port 0.
func WithStarted(f func(addrs []net.Addr)) Option { return func(a *App) { a.started = f } }

// New returns an App.
func New(opts ...Option) *App {
	a := &App{timeout: DefaultShutdownTimeout, signals: []os.Signal{os.Interrupt, syscall.SIGTERM}, log: slog.Default()}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Run listens every component, in the order of the options, then serves them all, and
// blocks until ctx ends, a configured signal arrives, or a component fails. Then it shuts
// down in the order that loses no call, within the shutdown timeout:
//
//  1. every component that is a Deregisterer (an rpc.Server: NOT_SERVING, deregister,
//     wait the deregister delay) withdraws, all at once, while all still serve;
//  2. the components shut down (stop accepting, drain) one after another in reverse
//     order of their options, as deferred calls run: one added later, which may call one
//     added earlier, stops first, and an admin server added first answers probes until
//     the servers have drained;
//  3. the closers run, in reverse order.
//
// A listen error ends Run before anything serves; every component is shut down (those that
// listened release their addresses) and the closers run, as they do whenever Run returns.
// Run returns nil after a clean requested stop; otherwise the failure that ended the run,
// each component's shutdown error (a failed deregistration of an rpc.Server wraps
// rpc.ErrDeregister) and each closer's error, joined (errors.Is finds each one). A shutdown
// or closer error is also logged once, at the moment it happens, so that it is on record
// even if the caller drops it. Run may be called once.
func (a *App) Run(ctx context.Context) error {
	a.runOnce.Do(func() { a.runError = a.run(ctx) })
	return a.runError
}

func (a *App) run(ctx context.Context) error {
	if len(a.components) == 0 {
		return errors.Join(ErrNoServer, a.close())
	}
	var addrs []net.Addr
	for _, c := range a.components {
		addr, err := c.Listen(ctx)
		if err != nil {
			// Nothing serves yet: release what every component holds, with no drain to
			// wait for.
			all := []error{err}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
			defer cancel()
			for j := len(a.components) - 1; j >= 0; j-- {
				all = append(all, a.shutdown(sctx, a.components[j], nil))
			}
			return errors.Join(append(all, a.close())...)
		}
		if addr != nil {
			addrs = append(addrs, addr)
		}
	}
	if len(a.signals) > 0 { // NotifyContext with no signals would catch all of them
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, a.signals...)
		defer stop()
	}

	type served struct {
		i   int
		err error
	}
	results := make(chan served, len(a.components))
	for i, c := range a.components {
		go func() { results <- served{i, c.Serve()} }()
	}
	if a.started != nil {
		a.started(addrs)
	}
	all := make([]error, 0, len(a.components))
	pending := len(a.components)
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "reason", context.Cause(ctx))
	case r := <-results:
		pending--
		if r.err == nil { // it was stopped from outside: the process goes with it
			a.log.Info("shutting down", "reason", describe(a.components[r.i])+" stopped")
			break
		}
		err := fmt.Errorf("tianshu: %s failed: %w", describe(a.components[r.i]), r.err)
		all = append(all, err)
		a.log.Error("a server failed; shutting down", "err", err)
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range a.components {
		if d, ok := c.(Deregisterer); ok {
			// Its error comes again from Shutdown, where it is reported once.
			wg.Go(func() { _ = d.Deregister(sctx) })
		}
	}
	wg.Wait()
	for i := len(a.components) - 1; i >= 0; i-- {
		all = append(all, a.shutdown(sctx, a.components[i], a.log))
	}
wait:
	for ; pending > 0; pending-- {
		select {
		case r := <-results:
			if r.err != nil {
				all = append(all, fmt.Errorf("tianshu: %s failed while stopping: %w", describe(a.components[r.i]), r.err))
			}
		case <-sctx.Done():
			a.log.Error("serving did not end after the shutdown; leaving it", "components", pending)
			break wait
		}
	}
	return errors.Join(append(all, a.close())...)
}

// close runs the closers in reverse order, logging each error once.
func (a *App) close() error {
	var all []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].Close(); err != nil {
			all = append(all, fmt.Errorf("tianshu: close: %w", err))
			a.log.Error("closer failed", "err", err)
		}
	}
	return errors.Join(all...)
}

// shutdown shuts c down and returns its error, wrapped and logged when log is not nil.
func (a *App) shutdown(ctx context.Context, c Component, log *slog.Logger) error {
	err := c.Shutdown(ctx)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("tianshu: shut down %s: %w", describe(c), err)
	if log != nil {
		log.Error("server shutdown failed", "err", err)
	}
	return err
}

// describe names c in errors and logs.
func describe(c Component) string {
	if l, ok := c.(*onListener); ok {
		if l.lis != nil {
			return fmt.Sprintf("the server on %v", l.lis.Addr())
		}
		return fmt.Sprintf("the server on %q", l.addr)
	}
	return fmt.Sprintf("%T", c)
}

// onListener is the Component of WithServer and WithListener.
type onListener struct {
	srv  Server
	addr string
	lis  net.Listener

	mu      sync.Mutex
	serving bool // Serve owns lis
	down    bool // Shutdown began
}

func (l *onListener) Listen(ctx context.Context) (net.Addr, error) {
	if l.lis == nil {
		var lc net.ListenConfig
		lis, err := lc.Listen(ctx, "tcp", l.addr)
		if err != nil {
			return nil, fmt.Errorf("tianshu: listen on %q: %w", l.addr, err)
		}
		l.lis = lis
	}
	return l.lis.Addr(), nil
}

func (l *onListener) Serve() error {
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return nil
	}
	l.serving = true
	l.mu.Unlock()
	err := l.srv.Serve(l.lis)
	_ = l.lis.Close() // a server stopped before it began serving leaves it open
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil || l.down || errors.Is(err, http.ErrServerClosed) {
		// Whatever Serve says once Shutdown began (rpc.Server's ErrServerStopped when
		// it was stopped before it served) is the shutdown's doing.
		return nil
	}
	return err
}

func (l *onListener) Deregister(ctx context.Context) error {
	if d, ok := l.srv.(Deregisterer); ok {
		return d.Deregister(ctx)
	}
	return nil
}

func (l *onListener) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	l.down = true
	serving := l.serving
	l.mu.Unlock()
	err := l.srv.Shutdown(ctx)
	if !serving && l.lis != nil {
		_ = l.lis.Close()
	}
	return err
}
