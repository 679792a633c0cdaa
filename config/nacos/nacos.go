package nacos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/nacosconn"
	"github.com/tianshu-go/tianshu/registry"
)

// Errors of this package, wrapped with details; test for them with errors.Is. They are the
// same values as registry/nacos's. An unreachable server wraps registry.ErrUnavailable.
var (
	// ErrInvalidConfig: an option or server address is malformed, or no dataId is given.
	ErrInvalidConfig = nacosconn.ErrInvalidConfig
	// ErrUnauthorized: the server refused the username and password.
	ErrUnauthorized = nacosconn.ErrUnauthorized
)

// Defaults of the options, the same as registry/nacos's.
const (
	DefaultNamespace = "public"
	DefaultGroup     = "DEFAULT_GROUP"
)

// Option configures New.
type Option func(*options)

type options struct {
	nacosconn.Settings
	group string
	retry backoff.Policy
	poll  time.Duration
}

// WithNamespace sets the namespace ID (default "public").
func WithNamespace(id string) Option { return func(o *options) { o.Namespace = id } }

// WithGroup sets the group of the dataIds (default DEFAULT_GROUP).
func WithGroup(g string) Option { return func(o *options) { o.group = g } }

// WithAuth logs in with a Nacos username and password; wrong ones make New fail with
// ErrUnauthorized.
func WithAuth(username, password string) Option {
	return func(o *options) { o.Username, o.Password = username, password }
}

// WithDir sets the directory of the SDK's cache and log files (default a tianshu/nacos
// directory in the user's cache directory).
func WithDir(dir string) Option { return func(o *options) { o.Dir = dir } }

// WithTimeout bounds each request to the server (default 3 s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.Timeout = d } }

// WithSDKLogLevel sets the lowest level of the SDK's own messages passed on to the logger,
// at debug level: debug, info, warn (default) or error.
func WithSDKLogLevel(level string) Option { return func(o *options) { o.SDKLevel = level } }

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.Log = l } }

// WithRetry sets the capped exponential backoff (with jitter) between attempts of a watcher
// whose read failed (default 200 ms up to 10 s).
func WithRetry(base, max time.Duration) Option {
	return func(o *options) { o.retry = backoff.Policy{Base: base, Max: max} }
}

// WithPoll sets how often a watcher reads its dataIds again to see deletes, which not every
// server notifies (default 10 s); 0 turns it off.
func WithPoll(d time.Duration) Option { return func(o *options) { o.poll = d } }

func (o *options) validate() error {
	if o.Dir == "" {
		o.Dir = nacosconn.DefaultDir()
	}
	if !filepath.IsAbs(o.Dir) {
		abs, err := filepath.Abs(o.Dir)
		if err != nil {
			return fmt.Errorf("%w: directory %q: %w", ErrInvalidConfig, o.Dir, err)
		}
		o.Dir = abs
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.group == "" {
		o.group = DefaultGroup
	}
	switch o.SDKLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("%w: SDK log level %q: want debug, info, warn or error", ErrInvalidConfig, o.SDKLevel)
	}
	switch {
	case o.Timeout <= 0:
		return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidConfig, o.Timeout)
	case o.retry.Base <= 0 || o.retry.Max < o.retry.Base:
		return fmt.Errorf("%w: retry backoff %v..%v: want 0 < base <= max", ErrInvalidConfig, o.retry.Base, o.retry.Max)
	case o.poll < 0:
		return fmt.Errorf("%w: poll interval %v must not be negative", ErrInvalidConfig, o.poll)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return nil
}

// Source is a config.Source over Nacos configuration: a list of dataIds in one group of one
// namespace, each a document named by its dataId (give dataIds an extension such as .yaml
// so that the Config knows how to decode them). A missing dataId is simply absent from the
// snapshot. It shares its SDK client with other Sources of the same servers and settings.
type Source struct {
	o       options
	c       *nacosconn.ConfigClient
	dataIDs []string

	closeOnce sync.Once
}

var _ config.Source = (*Source)(nil)

// New returns a Source over dataIDs in the group set by WithGroup (default DEFAULT_GROUP) of
// the namespace set by WithNamespace, on the Nacos servers (host:port, the HTTP port; gRPC
// is on port+1000). Call Close when done.
//
//	src, err := nacosconfig.New(ctx, []string{"nacos:8848"}, []string{"orders.yaml"}, nacosconfig.WithGroup("G"))
func New(ctx context.Context, servers []string, dataIDs []string, opts ...Option) (*Source, error) {
	o := options{
		Settings: nacosconn.Settings{Namespace: DefaultNamespace, Timeout: 3 * time.Second, SDKLevel: "warn"},
		group:    DefaultGroup,
		retry:    backoff.Policy{Base: 200 * time.Millisecond, Max: 10 * time.Second},
		poll:     10 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if len(dataIDs) == 0 {
		return nil, fmt.Errorf("%w: no dataId to read", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for _, id := range dataIDs {
		if err := registry.ValidateName("dataId", id); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: dataId %q listed twice", ErrInvalidConfig, id)
		}
		seen[id] = true
	}
	c, err := nacosconn.AcquireConfig(ctx, &o.Settings, servers)
	if err != nil {
		return nil, err
	}
	return &Source{o: o, c: c, dataIDs: append([]string(nil), dataIDs...)}, nil
}

// String names the source in config errors and reports: the namespace, the group and the
// dataIds.
func (s *Source) String() string {
	return "nacos " + s.o.Namespace + "/" + s.o.group + " " + strings.Join(s.dataIDs, ",")
}

// Load reads every dataId from the server. An unreachable server is an error wrapping
// registry.ErrUnavailable (the SDK's local snapshot is turned off, so a stale copy never
// passes for the server's answer).
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	docs := make([]config.Document, 0, len(s.dataIDs))
	for _, id := range s.dataIDs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nacos: load %s: %w", id, err)
		}
		content, err := s.c.Cli.GetConfig(vo.ConfigParam{DataId: id, Group: s.o.group})
		if err != nil {
			return nil, fmt.Errorf("nacos: load dataId %q of group %q: %w", id, s.o.group, nacosconn.Classify(err))
		}
		// Nacos refuses empty content, so "" can only mean that the dataId does not exist.
		if content == "" {
			continue
		}
		docs = append(docs, config.Document{Name: id, Format: config.FormatOf(id), Data: []byte(content)})
	}
	return docs, nil
}

// Put publishes data under dataID in the Source's group. Nacos cannot hold empty content:
// an empty data is rejected with ErrInvalidConfig (use Delete).
func (s *Source) Put(ctx context.Context, dataID string, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: dataId %q: Nacos cannot store empty content; use Delete", ErrInvalidConfig, dataID)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ok, err := s.c.Cli.PublishConfig(vo.ConfigParam{DataId: dataID, Group: s.o.group, Content: string(data)})
	if err == nil && !ok {
		err = nacosconn.ErrRefused
	}
	if err != nil {
		return fmt.Errorf("nacos: publish dataId %q of group %q: %w", dataID, s.o.group, nacosconn.Classify(err))
	}
	return nil
}

// Delete removes dataID from the Source's group; a missing one is not an error.
func (s *Source) Delete(ctx context.Context, dataID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ok, err := s.c.Cli.DeleteConfig(vo.ConfigParam{DataId: dataID, Group: s.o.group})
	if err == nil && !ok {
		err = nacosconn.ErrRefused
	}
	if err != nil {
		return fmt.Errorf("nacos: delete dataId %q of group %q: %w", dataID, s.o.group, nacosconn.Classify(err))
	}
	return nil
}

// Close releases the shared SDK client, which is closed with its last user. Watchers must
// be stopped first.
func (s *Source) Close() error {
	s.closeOnce.Do(s.c.Release)
	return nil
}

// Watch listens to every dataId. The SDK's notification only wakes the watcher, which then
// reads the dataIds again: the SDK runs each callback on a goroutine of its own, so their
// contents may arrive out of order, while a read after the wake-up is never older than it.
// A failed read is retried with capped backoff, and the dataIds are read again every
// WithConfigPoll interval to see deletes, which not every server notifies.
func (s *Source) Watch(ctx context.Context) (config.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &sourceWatcher{s: s, mb: config.NewMailbox(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, id := range s.dataIDs {
		if err := s.c.Listen(s.o.group, id, w); err != nil {
			for _, id2 := range s.dataIDs {
				s.c.Unlisten(s.o.group, id2, w)
			}
			return nil, fmt.Errorf("nacos: listen to dataId %q of group %q: %w", id, s.o.group, err)
		}
	}
	go w.run()
	return w, nil
}

type sourceWatcher struct {
	s    *Source
	mb   *config.Mailbox
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

// Notify wakes the watcher; the SDK listener calls it.
func (w *sourceWatcher) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *sourceWatcher) run() {
	defer close(w.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.mb.Done()
		cancel()
	}()
	pending, attempt := true, 0
	for {
		if pending {
			docs, err := w.s.Load(ctx)
			switch {
			case err == nil:
				w.mb.Put(docs)
				pending, attempt = false, 0
			case errors.Is(err, context.Canceled):
				return
			default:
				w.s.o.Log.Warn("nacos: config read failed; retrying", "group", w.s.o.group, "err", err)
				t := time.NewTimer(w.s.o.retry.Delay(attempt))
				attempt++
				select {
				case <-t.C:
				case <-w.wake:
					t.Stop()
				case <-w.mb.Done():
					t.Stop()
					return
				}
				continue
			}
		}
		var tick <-chan time.Time
		var t *time.Timer
		if w.s.o.poll > 0 {
			t = time.NewTimer(w.s.o.poll)
			tick = t.C
		}
		select {
		case <-w.wake:
		case <-tick:
		case <-w.mb.Done():
			return
		}
		if t != nil {
			t.Stop()
		}
		pending = true
	}
}

func (w *sourceWatcher) Next(ctx context.Context) ([]config.Document, error) { return w.mb.Next(ctx) }

func (w *sourceWatcher) Stop() error {
	w.once.Do(func() {
		w.mb.Close()
		for _, id := range w.s.dataIDs {
			w.s.c.Unlisten(w.s.o.group, id, w)
		}
		<-w.done
	})
	return nil
}
