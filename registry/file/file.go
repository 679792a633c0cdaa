package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/internal/atomicfile"
	"github.com/tianshu-go/tianshu/registry"
)

// ErrInvalidConfig is returned by New and by registry.Open for an option or URL parameter
// that cannot work, such as a TTL no longer than the heartbeat interval.
var ErrInvalidConfig = errors.New("file: invalid configuration")

// Defaults of the options. With them a crashed provider leaves the lists of consumers on
// its host within about 0.5 s, and those of consumers elsewhere within 2.5 s.
const (
	DefaultHeartbeat    = 500 * time.Millisecond
	DefaultTTL          = 2 * time.Second
	DefaultPollInterval = 500 * time.Millisecond
)

// Option configures a Registry.
type Option func(*options)

type options struct {
	heartbeat time.Duration
	ttl       time.Duration
	poll      time.Duration
	log       *slog.Logger
}

// WithHeartbeat sets how often the Registry refreshes the entries it registered. It must be
// shorter than the TTL; a third of it or less leaves room for a busy machine.
func WithHeartbeat(d time.Duration) Option { return func(o *options) { o.heartbeat = d } }

// WithTTL sets how long the entries this Registry writes stay listed after their last
// heartbeat; it is stored in each entry, so readers with other settings honour it. It bounds
// how long a crashed provider on another host (sharing the directory over a network file
// system) stays listed; the writers' and readers' clocks must agree to well within it.
// Entries that declare no TTL get this one.
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithPollInterval sets how often a watched service is rescanned. Rescans notice processes
// that died and entries whose TTL ran out, and replace fsnotify where it is unavailable.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithLogger sets the logger for skipped entries and file-system trouble; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Registry is a registry.Registry kept in a directory shared by the processes of one host.
// Its methods are safe for concurrent use. The zero value is not usable; call New.
type Registry struct {
	dir  string
	opts options
	scan scanConfig

	// ownMu serialises changes to this Registry's own entries with the heartbeat, so that a
	// heartbeat never writes back an entry that Deregister has just removed.
	ownMu sync.Mutex
	own   map[string]*ownEntry // by service + "/" + ID
	beats sync.WaitGroup
	stop  chan struct{}

	mu        sync.Mutex
	closed    bool
	dirs      map[string]*serviceDir
	watches   map[string]*watch
	notify    *notifier // created by the first Watch; nil until then or if unavailable
	notifyErr error
}

type ownEntry struct {
	in      *registry.Instance
	data    []byte
	lastErr string // the heartbeat problem last logged, to log each once
}

var (
	_ registry.Registry       = (*Registry)(nil)
	_ registry.HealthReporter = (*Registry)(nil)
)

// DefaultDir returns the directory used when none is given: "tianshu/registry" under the
// user's cache directory (os.UserCacheDir), or under the temporary directory when the user
// has none.
func DefaultDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "tianshu-registry")
	}
	return filepath.Join(base, "tianshu", "registry")
}

// New opens the registry in dir, creating the directory if needed; an empty dir means
// DefaultDir(). If the directory cannot be created, read and written, the error wraps
// registry.ErrUnavailable; bad options give ErrInvalidConfig.
//
// ctx bounds only the opening; Close ends the Registry.
func New(ctx context.Context, dir string, opts ...Option) (*Registry, error) {
	o := options{heartbeat: DefaultHeartbeat, ttl: DefaultTTL, poll: DefaultPollInterval}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if dir == "" {
		dir = DefaultDir()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file: registry directory %q: %w: %w", dir, registry.ErrUnavailable, err)
	}
	if err := checkDir(dir); err != nil {
		return nil, fmt.Errorf("file: registry directory %q is unusable: %w: %w", dir, registry.ErrUnavailable, err)
	}
	host, _ := os.Hostname()
	log := o.log.With("registry", "file", "dir", dir)
	r := &Registry{
		dir:  dir,
		opts: o,
		scan: scanConfig{
			self: owner{pid: os.Getpid(), host: host, pidns: pidNamespace(), ttl: o.ttl},
			log:  log,
		},
		own:     map[string]*ownEntry{},
		stop:    make(chan struct{}),
		dirs:    map[string]*serviceDir{},
		watches: map[string]*watch{},
	}
	r.beats.Add(1)
	go r.heartbeat()
	return r, nil
}

func (o *options) check() error {
	switch {
	case o.heartbeat <= 0:
		return fmt.Errorf("%w: heartbeat interval %v must be positive", ErrInvalidConfig, o.heartbeat)
	case o.ttl <= o.heartbeat:
		return fmt.Errorf("%w: TTL %v must be longer than the heartbeat interval %v (three times or more is safe)", ErrInvalidConfig, o.ttl, o.heartbeat)
	case o.ttl > maxTTL:
		return fmt.Errorf("%w: TTL %v is longer than the %v an entry may declare", ErrInvalidConfig, o.ttl, maxTTL)
	case o.poll <= 0:
		return fmt.Errorf("%w: poll interval %v must be positive", ErrInvalidConfig, o.poll)
	}
	return nil
}

// checkDir makes sure dir exists and that this process can list it and create files in it.
func checkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := os.ReadDir(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".probe-*.tmp")
	if err != nil {
		return err
	}
	_ = f.Close()
	return os.Remove(f.Name())
}

// Dir returns the absolute path of the registry directory.
func (r *Registry) Dir() string { return r.dir }

func (r *Registry) entryPath(service, id string) string {
	return filepath.Join(r.dir, service, entryFileName(id))
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Register writes the instance's entry, or replaces it, and keeps it alive until
// Deregister or Close. The Registry keeps a copy. A directory that cannot be written gives
// an error wrapping registry.ErrUnavailable.
func (r *Registry) Register(ctx context.Context, in *registry.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	in = in.Clone()
	data, err := marshalEntry(r.scan.self, in)
	if err != nil {
		return fmt.Errorf("file: register %q of %q: %w", in.ID, in.Service, err)
	}
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.isClosed() {
		return fmt.Errorf("file: register %q of %q: %w", in.ID, in.Service, registry.ErrClosed)
	}
	if err := r.write(in, data); err != nil {
		return fmt.Errorf("file: register %q of %q: %w: %w", in.ID, in.Service, registry.ErrUnavailable, err)
	}
	r.own[in.Service+"/"+in.ID] = &ownEntry{in: in, data: data}
	r.wakeWatch(in.Service)
	return nil
}

func (r *Registry) write(in *registry.Instance, data []byte) error {
	if err := os.MkdirAll(filepath.Join(r.dir, in.Service), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(r.entryPath(in.Service, in.ID), data)
}

// Deregister removes the instance's entry, wherever it was registered from, and stops
// refreshing it if this Registry registered it; an entry that another live Registry owns
// comes back on that one's next heartbeat. Removing an entry that is not there is not an
// error.
func (r *Registry) Deregister(ctx context.Context, in *registry.Instance) error {
	// The names become a path: check them before touching the file system.
	if err := in.ValidateKey(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	if r.isClosed() {
		return fmt.Errorf("file: deregister %q of %q: %w", in.ID, in.Service, registry.ErrClosed)
	}
	delete(r.own, in.Service+"/"+in.ID)
	if err := os.Remove(r.entryPath(in.Service, in.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file: deregister %q of %q: %w: %w", in.ID, in.Service, registry.ErrUnavailable, err)
	}
	r.wakeWatch(in.Service)
	return nil
}

// GetService reads the live instances of a service from the directory, sorted by ID.
func (r *Registry) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sd, err := r.serviceDir(service)
	if err != nil {
		return nil, fmt.Errorf("file: get %q: %w", service, err)
	}
	list, err := sd.scan(&r.scan)
	if err != nil {
		return nil, fmt.Errorf("file: get %q: %w: %w", service, registry.ErrUnavailable, err)
	}
	return list, nil
}

func (r *Registry) serviceDir(service string) (*serviceDir, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, registry.ErrClosed
	}
	sd, ok := r.dirs[service]
	if !ok {
		sd = newServiceDir(r.dir, service)
		r.dirs[service] = sd
	}
	return sd, nil
}

// Healthy reports whether the registry directory is still there. When it is not (someone
// removed it), every service looks empty, and registry.Failover should not believe that.
func (r *Registry) Healthy() bool {
	info, err := os.Stat(r.dir)
	return err == nil && info.IsDir()
}

// heartbeat refreshes the modification time of every entry this Registry owns, writing back
// any entry that disappeared (removed by hand, or by a reader that took this process for
// dead while it was paused).
func (r *Registry) heartbeat() {
	defer r.beats.Done()
	t := time.NewTicker(r.opts.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.beat()
		}
	}
}

func (r *Registry) beat() {
	r.ownMu.Lock()
	defer r.ownMu.Unlock()
	now := time.Now()
	for _, oe := range r.own {
		path := r.entryPath(oe.in.Service, oe.in.ID)
		err := os.Chtimes(path, now, now)
		if errors.Is(err, fs.ErrNotExist) {
			err = r.write(oe.in, oe.data)
			if err == nil {
				r.scan.log.Info("registry entry was removed while its instance runs; wrote it again", "file", path)
				r.wakeWatch(oe.in.Service)
			}
		}
		switch {
		case err != nil && err.Error() != oe.lastErr:
			r.scan.log.Warn("cannot refresh registry entry; it will expire", "file", path, "err", err)
			oe.lastErr = err.Error()
		case err == nil && oe.lastErr != "":
			r.scan.log.Info("refreshing registry entry again", "file", path)
			oe.lastErr = ""
		}
	}
}

// Close removes the entries this Registry registered, stops refreshing them, and stops its
// watchers, whose Next then returns registry.ErrWatcherStopped. Later calls of other methods
// return registry.ErrClosed; a second Close returns nil.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	watches, n := r.watches, r.notify
	r.watches, r.notify = nil, nil
	r.mu.Unlock()

	close(r.stop)
	r.beats.Wait()
	var errs []error
	r.ownMu.Lock()
	for key, oe := range r.own {
		err := os.Remove(r.entryPath(oe.in.Service, oe.in.ID))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("file: remove entry of %q: %w", key, err))
		}
	}
	clear(r.own)
	r.ownMu.Unlock()

	for _, w := range watches {
		w.bc.Close()
		w.halt()
	}
	if n != nil {
		n.close()
	}
	return errors.Join(errs...)
}
