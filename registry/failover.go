package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/internal/atomicfile"
	"github.com/tianshu-go/tianshu/internal/backoff"
)

// FailoverOption configures NewFailover.
type FailoverOption func(*Failover)

// WithCacheDir persists the last good list of each service under dir, so that a consumer
// started while the backend is down still finds the instances it last saw. Without it the
// cache lives in memory only.
func WithCacheDir(dir string) FailoverOption { return func(f *Failover) { f.dir = dir } }

// WithFailoverLogger sets the logger for failover events; the default is slog.Default().
func WithFailoverLogger(l *slog.Logger) FailoverOption { return func(f *Failover) { f.log = l } }

// WithBackendTimeout bounds each read of the backend that has a fallback (GetService, and
// the start of a Watch) so that a hanging backend turns into the cached list quickly
// instead of holding the caller until its own deadline. The default is 3 s.
func WithBackendTimeout(d time.Duration) FailoverOption { return func(f *Failover) { f.timeout = d } }

// WithRetry sets the backoff between attempts to re-establish a failed watch; the default
// grows from 100 ms to 10 s.
func WithRetry(base, max time.Duration) FailoverOption {
	return func(f *Failover) { f.retry = backoff.Policy{Base: base, Max: max} }
}

// Failover wraps a Registry so that a sick backend never takes instances away from
// consumers:
//
//   - GetService and Watch fall back to the last good list (in memory, then on disk) when
//     the backend cannot be read, and Watch keeps re-establishing the backend's watch with
//     capped, jittered backoff;
//   - an update that would drop every instance while the backend reports itself unhealthy
//     (HealthReporter) is held: the last list stays until the backend is healthy again or
//     sends a non-empty list (push-empty protection).
//
// Register, Deregister and Close pass through.
type Failover struct {
	Registry
	dir     string
	log     *slog.Logger
	retry   backoff.Policy
	timeout time.Duration

	mu   sync.Mutex
	last map[string][]*Instance
}

// NewFailover wraps r.
func NewFailover(r Registry, opts ...FailoverOption) *Failover {
	f := &Failover{Registry: r, log: slog.Default(), retry: backoff.Default, timeout: 3 * time.Second, last: map[string][]*Instance{}}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Unwrap returns the wrapped backend, so that Find reaches the abilities a backend has
// beyond Registry (as rpc looks for Dubbo's consumer entries) through the failover cache.
func (f *Failover) Unwrap() Registry { return f.Registry }

// Healthy reports the wrapped backend's health; a backend that does not report it is
// taken as healthy.
func (f *Failover) Healthy() bool {
	h, ok := f.Registry.(HealthReporter)
	return !ok || h.Healthy()
}

// GetService returns the backend's list, or the last good one when the backend fails.
func (f *Failover) GetService(ctx context.Context, service string) ([]*Instance, error) {
	bctx, cancel := context.WithTimeout(ctx, f.timeout)
	list, err := f.Registry.GetService(bctx, service)
	cancel()
	if err == nil {
		return f.accept(service, list), nil
	}
	if errors.Is(err, ErrInvalidInstance) || errors.Is(err, ErrClosed) {
		return nil, err
	}
	if cached, ok := f.cached(service); ok {
		f.log.Warn("registry unavailable; serving the last good instance list", "service", service, "instances", len(cached), "err", err)
		return cached, nil
	}
	return nil, err
}

// accept records list as the last good one unless push-empty protection holds it back, and
// returns the list to hand out.
func (f *Failover) accept(service string, list []*Instance) []*Instance {
	if len(list) == 0 && !f.Healthy() {
		// A backend whose server is down at start hands out empty watches (the registry
		// contract): the last good list may then be only on disk.
		if prev, ok := f.cached(service); ok && len(prev) > 0 {
			f.mu.Lock()
			if _, had := f.last[service]; !had {
				f.last[service] = prev
			}
			f.mu.Unlock()
			f.log.Warn("registry unhealthy and reports no instance; keeping the last good list", "service", service, "instances", len(prev))
			return prev
		}
	}
	f.mu.Lock()
	prev, had := f.last[service]
	f.last[service] = list
	f.mu.Unlock()
	if !had || !EqualLists(prev, list) {
		f.save(service, list)
	}
	return list
}

func (f *Failover) cached(service string) ([]*Instance, bool) {
	f.mu.Lock()
	list, ok := f.last[service]
	f.mu.Unlock()
	if ok {
		return list, true
	}
	if f.dir == "" {
		return nil, false
	}
	b, err := os.ReadFile(f.path(service))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			f.log.Warn("cannot read the failover cache", "service", service, "err", err)
		}
		return nil, false
	}
	list, skipped, err := decodeCache(b, service)
	if err != nil {
		f.log.Warn("skipping a corrupt failover cache file", "path", f.path(service), "err", err)
		return nil, false
	}
	if skipped > 0 {
		f.log.Warn("skipping entries of the failover cache file that are not valid instances of the service, or repeat an ID",
			"path", f.path(service), "skipped", skipped, "kept", len(list))
	}
	return list, true
}

// decodeCache reads a failover cache file of service: a JSON array of instances, as save
// writes it. Entries that are not valid instances of service, and any but the first of
// entries sharing an ID, are left out and counted in skipped; the list is sorted by ID.
// A file that is not such an array is an error.
func decodeCache(b []byte, service string) (list []*Instance, skipped int, err error) {
	var all []*Instance
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, 0, err
	}
	list = make([]*Instance, 0, len(all))
	seen := make(map[string]bool, len(all))
	for _, in := range all {
		if in.Validate() != nil || in.Service != service || seen[in.ID] {
			skipped++
			continue
		}
		seen[in.ID] = true
		list = append(list, in)
	}
	SortInstances(list)
	return list, skipped, nil
}

func (f *Failover) path(service string) string {
	return filepath.Join(f.dir, url.PathEscape(service)+".json")
}

// save writes the list atomically (temporary file, then rename), so that a crash never
// leaves a torn cache file behind.
func (f *Failover) save(service string, list []*Instance) {
	if f.dir == "" {
		return
	}
	b, err := json.Marshal(list)
	if err == nil {
		err = os.MkdirAll(f.dir, 0o755)
	}
	if err == nil {
		err = atomicfile.Write(f.path(service), b)
	}
	if err != nil {
		f.log.Warn("cannot write the failover cache", "service", service, "err", err)
	}
}

// Watch follows a service through the backend. If the backend cannot start the watch, the
// watcher starts from the last good list and keeps trying in the background; the error is
// returned only when there is no list to start from.
func (f *Failover) Watch(ctx context.Context, service string) (Watcher, error) {
	if err := ValidateName("service", service); err != nil {
		return nil, err
	}
	bctx, cancel := context.WithTimeout(ctx, f.timeout)
	inner, err := f.Registry.Watch(bctx, service)
	cancel()
	var first []*Instance
	if err == nil {
		first, err = inner.Next()
		if err != nil {
			_ = inner.Stop()
			inner = nil
		}
	}
	if err != nil {
		inner = nil
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		cached, ok := f.cached(service)
		if !ok {
			return nil, fmt.Errorf("registry: watch %q and no cached list: %w", service, err)
		}
		f.log.Warn("registry unavailable; watching from the last good instance list", "service", service, "instances", len(cached), "err", err)
		first = cached
	} else {
		first = f.accept(service, first)
	}
	fw := &failoverWatcher{f: f, service: service, bc: NewBroadcast(first), done: make(chan struct{})}
	wctx, wcancel := context.WithCancel(context.Background())
	fw.cancel = wcancel
	go fw.run(wctx, inner)
	return fw.bc.Watch(fw.stop), nil
}

type failoverWatcher struct {
	f       *Failover
	service string
	bc      *Broadcast
	cancel  context.CancelFunc
	done    chan struct{}
}

func (w *failoverWatcher) stop() {
	w.cancel()
	<-w.done
	w.bc.Close()
}

// run follows the backend's watch, starting with inner when Watch could open it, and
// re-establishes it with backoff when it fails or the backend ends it (its session closed,
// say); the consumers keep the last good list meanwhile.
func (w *failoverWatcher) run(ctx context.Context, inner Watcher) {
	defer close(w.done)
	failing := false // since the last list: Follow calls Value and Error from this goroutine
	backoff.Follower[[]*Instance]{
		Policy: w.f.retry,
		Open: func(ctx context.Context) (backoff.Stream[[]*Instance], error) {
			if inner != nil {
				first := inner
				inner = nil
				return first, nil
			}
			in, err := w.f.Registry.Watch(ctx, w.service)
			if err != nil {
				return nil, fmt.Errorf("re-establish the watch: %w", err)
			}
			return in, nil
		},
		Value: func(list []*Instance) {
			failing = false
			w.bc.Set(w.f.accept(w.service, list))
		},
		Error: func(err error) bool {
			if errors.Is(err, ErrClosed) {
				return false
			}
			// The first error of an outage is news; the retries that follow, every few
			// seconds until the backend answers, are not.
			level := slog.LevelWarn
			if failing {
				level = slog.LevelDebug
			}
			failing = true
			w.f.log.Log(context.Background(), level, "registry watch error; keeping the last good list", "service", w.service, "err", err)
			return true
		},
		Ended: func(err error) bool { return errors.Is(err, ErrWatcherStopped) },
	}.Follow(ctx)
	if ctx.Err() == nil { // the backend was closed: so are the consumers' watchers
		w.bc.Close()
	}
}
