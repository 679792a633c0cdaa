package tianshu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tianshu-go/tianshu/rpc"
)

// DefaultShutdownTimeout bounds the whole shutdown of an App: deregistration, the
// deregister delay, draining and closers.
const DefaultShutdownTimeout = 30 * time.Second

// ErrNoServer is returned by Run when the App has nothing to serve.
var ErrNoServer = errors.New("tianshu: no server to run")

// Option configures an App.
type Option func(*App)

type served struct {
	srv  *rpc.Server
	addr string
	lis  net.Listener
}

// App runs servers until a signal or the end of its context, then shuts them down.
type App struct {
	servers  []served
	closers  []io.Closer
	timeout  time.Duration
	signals  []os.Signal
	log      *slog.Logger
	started  func([]net.Addr)
	runOnce  sync.Once
	runError error
}

// WithServer serves srv on a TCP address such as ":9000" or "127.0.0.1:0".
func WithServer(srv *rpc.Server, addr string) Option {
	return func(a *App) { a.servers = append(a.servers, served{srv: srv, addr: addr}) }
}

// WithListener serves srv on a listener the caller opened.
func WithListener(srv *rpc.Server, lis net.Listener) Option {
	return func(a *App) { a.servers = append(a.servers, served{srv: srv, lis: lis}) }
}

// WithCloser closes c after every server has stopped; closers run in reverse order of
// registration, as deferred calls do.
func WithCloser(c io.Closer) Option { return func(a *App) { a.closers = append(a.closers, c) } }

// WithShutdownTimeout bounds the shutdown; see DefaultShutdownTimeout.
func WithShutdownTimeout(d time.Duration) Option { return func(a *App) { a.timeout = d } }

// WithSignals sets the signals that start a shutdown; the default is SIGINT and SIGTERM.
// With no arguments, the App stops only when Run's context ends.
func WithSignals(sigs ...os.Signal) Option { return func(a *App) { a.signals = sigs } }

// WithLogger sets the App's logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(a *App) { a.log = l } }

// WithStarted calls f with the listening addresses once every server listens, which tells
// tests and demos the ports of servers started on port 0.
func WithStarted(f func(addrs []net.Addr)) Option { return func(a *App) { a.started = f } }

// New returns an App.
func New(opts ...Option) *App {
	a := &App{timeout: DefaultShutdownTimeout, signals: []os.Signal{os.Interrupt, syscall.SIGTERM}, log: slog.Default()}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Run listens, serves, and blocks until ctx ends, a configured signal arrives, or a server
// fails; then it shuts every server down concurrently (each: NOT_SERVING, deregister,
// delay, drain) and runs the closers. It returns nil after a clean requested stop;
// otherwise the server failure that ended the run, each server's shutdown error (a failed
// deregistration wraps rpc.ErrDeregister) and each closer's error, joined (errors.Is finds
// each one). A shutdown or closer error is also logged once, at the moment it happens, so
// that it is on record even if the caller drops it. Run may be called once.
func (a *App) Run(ctx context.Context) error {
	a.runOnce.Do(func() { a.runError = a.run(ctx) })
	return a.runError
}

func (a *App) run(ctx context.Context) error {
	if len(a.servers) == 0 {
		return ErrNoServer
	}
	var addrs []net.Addr
	for i := range a.servers {
		s := &a.servers[i]
		if s.lis == nil {
			lis, err := net.Listen("tcp", s.addr)
			if err != nil {
				for _, prev := range a.servers[:i] {
					_ = prev.lis.Close()
				}
				return fmt.Errorf("tianshu: listen on %q: %w", s.addr, err)
			}
			s.lis = lis
		}
		addrs = append(addrs, s.lis.Addr())
	}
	if len(a.signals) > 0 { // NotifyContext with no signals would catch all of them
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, a.signals...)
		defer stop()
	}

	errs := make(chan error, len(a.servers))
	for _, s := range a.servers {
		go func() {
			if err := s.srv.Serve(s.lis); err != nil {
				errs <- fmt.Errorf("tianshu: serve on %v: %w", s.lis.Addr(), err)
				return
			}
			errs <- nil
		}()
	}
	if a.started != nil {
		a.started(addrs)
	}
	var first error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "reason", context.Cause(ctx))
	case first = <-errs:
		a.log.Error("a server failed; shutting down", "err", first)
	}

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	stopErrs := make([]error, len(a.servers))
	var wg sync.WaitGroup
	for i, s := range a.servers {
		wg.Go(func() {
			if err := s.srv.Shutdown(sctx); err != nil {
				stopErrs[i] = fmt.Errorf("tianshu: shut down the server on %v: %w", s.lis.Addr(), err)
				a.log.Error("server shutdown failed", "addr", s.lis.Addr(), "err", err)
			}
		})
	}
	wg.Wait()
	all := append([]error{first}, stopErrs...)
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].Close(); err != nil {
			all = append(all, fmt.Errorf("tianshu: close: %w", err))
			a.log.Error("closer failed", "err", err)
		}
	}
	return errors.Join(all...)
}
