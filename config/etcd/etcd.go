package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/etcdconn"
)

// Errors of this package, wrapped with details; test for them with errors.Is. They are the
// same values as registry/etcd's. Trouble reaching the server wraps registry.ErrUnavailable.
var (
	// ErrInvalidConfig: an empty key or no client, or a Put outside the source.
	ErrInvalidConfig = etcdconn.ErrInvalidConfig
	// ErrAuth: the server refused the credentials, or the user may not read the key.
	ErrAuth = etcdconn.ErrAuth
)

// DefaultReadTimeout bounds each read a watcher makes in the background (after a
// compaction) unless WithReadTimeout says otherwise.
const DefaultReadTimeout = 5 * time.Second

// Source is a config.Source over one etcd key, or over every key under a prefix when the
// key given ends in a slash. Each key is one config.Document named by the full key, its
// format guessed from the key's extension (/app/orders.yaml is YAML); under a prefix the
// documents come in key order, so a later key overrides an earlier one. A missing key is an
// empty snapshot. Watchers resume from the last revision seen after a disconnect and re-read
// everything when that revision has been compacted.
type Source struct {
	cli    *clientv3.Client
	owned  bool // Close closes cli
	key    string
	prefix bool
	retry  backoff.Policy
	limit  time.Duration // bounds each background read
	log    *slog.Logger
}

var _ config.Source = (*Source)(nil)

// Option configures a Source.
type Option func(*Source)

// WithRetry sets the capped exponential backoff (with jitter) between attempts of a watcher
// whose watch ended; the default grows from 100 ms to 10 s.
func WithRetry(base, max time.Duration) Option {
	return func(s *Source) { s.retry = backoff.Policy{Base: base, Max: max} }
}

// WithReadTimeout bounds each read a watcher makes in the background (default
// DefaultReadTimeout).
func WithReadTimeout(d time.Duration) Option { return func(s *Source) { s.limit = d } }

// WithLogger sets the logger of the watchers' retries; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// CloseClient makes Close close the client too, for a client made for the source alone.
func CloseClient() Option { return func(s *Source) { s.owned = true } }

// New returns a source over key, a single key such as /config/orders.yaml or a prefix such
// as /config/orders/ (ending in a slash), read through cli. The client is the caller's: a
// Registry's (registry/etcd's Registry.Client), one from registry/etcd's Dial, which
// applies the registry's options (credentials, TLS, timeouts), or one from clientv3.New.
// It stays open after Close unless CloseClient is given. An empty key or a nil client gives
// ErrInvalidConfig.
//
//	reg, err := etcd.New(ctx, endpoints) // registry/etcd
//	...
//	src, err := etcdconfig.New(reg.Client(), "/config/orders.yaml")
func New(cli *clientv3.Client, key string, opts ...Option) (*Source, error) {
	switch {
	case cli == nil:
		return nil, fmt.Errorf("%w: no etcd client", ErrInvalidConfig)
	case key == "":
		return nil, fmt.Errorf("%w: config key is empty", ErrInvalidConfig)
	}
	s := &Source{
		cli:    cli,
		key:    key,
		prefix: strings.HasSuffix(key, "/"),
		retry:  backoff.Default,
		limit:  DefaultReadTimeout,
	}
	for _, o := range opts {
		o(s)
	}
	switch {
	case s.retry.Base <= 0 || s.retry.Max < s.retry.Base:
		return nil, fmt.Errorf("%w: retry backoff %v..%v: want 0 < base <= max", ErrInvalidConfig, s.retry.Base, s.retry.Max)
	case s.limit <= 0:
		return nil, fmt.Errorf("%w: read timeout %v must be positive", ErrInvalidConfig, s.limit)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("config", "etcd", "key", key)
	return s, nil
}

// String names the source in config errors and reports.
func (s *Source) String() string { return "etcd " + s.key }

// Close closes the client when CloseClient was given; otherwise it does nothing, and the
// client's owner closes it.
func (s *Source) Close() error {
	if s.owned {
		return s.cli.Close()
	}
	return nil
}

func (s *Source) get(ctx context.Context) (*clientv3.GetResponse, error) {
	var opts []clientv3.OpOption
	if s.prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	resp, err := s.cli.Get(ctx, s.key, opts...)
	if err != nil {
		return nil, etcdconn.Classify("read config "+s.key, err)
	}
	return resp, nil
}

// Load reads the current documents. An unreachable server gives an error wrapping
// registry.ErrUnavailable (and ctx.Err() when ctx ended first); refused credentials wrap
// ErrAuth.
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	resp, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	docs := make([]config.Document, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		docs = append(docs, config.Document{Name: string(kv.Key), Data: kv.Value})
	}
	return docs, nil
}

// Watch reads the current documents within ctx, then follows changes until Stop.
func (s *Source) Watch(ctx context.Context) (config.Watcher, error) {
	resp, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	w := &configWatcher{
		s: s,
		// A watcher of its own, so that Stop can wait for its stream to shut down.
		ew:   clientv3.NewWatcher(s.cli),
		box:  config.NewMailbox(),
		docs: make(map[string][]byte, len(resp.Kvs)),
		rev:  resp.Header.Revision,
		done: make(chan struct{}),
	}
	for _, kv := range resp.Kvs {
		w.docs[string(kv.Key)] = kv.Value
	}
	w.box.Put(w.snapshot())
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w, nil
}

type configWatcher struct {
	s      *Source
	ew     clientv3.Watcher
	box    *config.Mailbox
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	// Owned by run.
	docs map[string][]byte
	rev  int64
}

func (w *configWatcher) Next(ctx context.Context) ([]config.Document, error) {
	return w.box.Next(ctx)
}

func (w *configWatcher) Stop() error {
	w.once.Do(func() {
		w.cancel()
		<-w.done
		_ = w.ew.Close()
		w.box.Close()
	})
	return nil
}

func (w *configWatcher) snapshot() []config.Document {
	keys := slices.Sorted(maps.Keys(w.docs))
	docs := make([]config.Document, len(keys))
	for i, k := range keys {
		docs[i] = config.Document{Name: k, Data: w.docs[k]}
	}
	return docs
}

func (w *configWatcher) run() {
	defer close(w.done)
	for attempt := 0; w.ctx.Err() == nil; {
		compacted, err := w.follow()
		if w.ctx.Err() != nil {
			return
		}
		if compacted {
			rctx, cancel := context.WithTimeout(w.ctx, w.s.limit)
			resp, gerr := w.s.get(rctx)
			cancel()
			if gerr == nil {
				clear(w.docs)
				for _, kv := range resp.Kvs {
					w.docs[string(kv.Key)] = kv.Value
				}
				w.rev = resp.Header.Revision
				w.box.Put(w.snapshot())
				attempt = 0
				continue
			}
			err = gerr
			w.rev = 0 // keep re-reading until it works
		}
		if err == nil {
			attempt = 0
			continue
		}
		d := w.s.retry.Delay(attempt)
		attempt++
		w.s.log.Warn("etcd: config watch ended; retrying", "revision", w.rev, "retry_in", d, "err", err)
		backoff.Sleep(w.ctx, d)
	}
}

// follow runs one etcd watch from rev+1; see watch.follow in the registry for the cases.
func (w *configWatcher) follow() (compacted bool, err error) {
	if w.rev == 0 {
		return true, errors.New("no revision to resume from")
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithRev(w.rev + 1)}
	if w.s.prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	progressed := false
	for resp := range w.ew.Watch(ctx, w.s.key, opts...) {
		if err := resp.Err(); err != nil {
			return resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted), err
		}
		for _, ev := range resp.Events {
			switch ev.Type {
			case clientv3.EventTypePut:
				w.docs[string(ev.Kv.Key)] = ev.Kv.Value
			case clientv3.EventTypeDelete:
				delete(w.docs, string(ev.Kv.Key))
			}
			w.rev = ev.Kv.ModRevision
		}
		if len(resp.Events) > 0 {
			progressed = true
			w.box.Put(w.snapshot())
		}
	}
	if progressed {
		return false, nil
	}
	return false, errors.New("watch channel closed")
}

// Put stores a document: name is its full key, as Load names it. It lets tools such as
// `tianshu config set` edit what the source serves; services only read.
func (s *Source) Put(ctx context.Context, name string, data []byte) error {
	if name != s.key && !(s.prefix && strings.HasPrefix(name, s.key)) {
		return fmt.Errorf("%w: key %q is not in this source (%q)", ErrInvalidConfig, name, s.key)
	}
	if _, err := s.cli.Put(ctx, name, string(data)); err != nil {
		return etcdconn.Classify("put "+name, err)
	}
	return nil
}
