package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Option configures New.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	onError  func(error)
	decoders map[Format]DecodeFunc
	env      func(string) (string, bool)
	watch    bool
	strict   bool
}

// WithLogger sets where rejected changes and watch failures are logged
// (once per distinct error). The default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithErrorHandler registers fn to receive every rejected change and every
// watch failure, once per distinct error, on the goroutine that applies
// changes. fn must not block for long and must not call Close.
func WithErrorHandler(fn func(error)) Option { return func(o *options) { o.onError = fn } }

// WithDecoder adds or replaces the decoder for a format.
func WithDecoder(f Format, fn DecodeFunc) Option {
	return func(o *options) { o.decoders[f] = fn }
}

// WithLookupEnv sets how placeholders read environment variables (the
// default is os.LookupEnv); tests use it to stay away from the process
// environment.
func WithLookupEnv(fn func(string) (string, bool)) Option { return func(o *options) { o.env = fn } }

// WithoutWatch loads the sources once and never watches them.
func WithoutWatch() Option { return func(o *options) { o.watch = false } }

// StrictKeys makes a key that no field of the bound type names an error
// (*UnknownKeyError, ErrUnknownKey) for Bind, ScanKey and every reload,
// instead of a warning logged once. Use it where a typo must stop a deploy.
func StrictKeys() Option { return func(o *options) { o.strict = true } }

// Config is the merged, placeholder-resolved view of an ordered list of
// sources, kept current by watching them. All methods are safe for
// concurrent use.
type Config struct {
	opts    options
	sources []Source

	live     atomic.Pointer[state]    // never modified once stored
	bindKeys atomic.Pointer[[]string] // keys of every Value bound so far

	warnMu sync.Mutex
	warned map[string]bool // unknown keys logged, by source and key

	applyMu sync.Mutex // serialises apply-then-notify so observers see changes in order
	mu      sync.Mutex // guards the fields below
	layers  []layer
	binds   []binding
	lastErr string

	cancel   context.CancelFunc
	watchers []Watcher
	wg       sync.WaitGroup
	closed   atomic.Bool
}

// layer is one source's latest accepted snapshot with its decoded trees.
type layer struct {
	docs  []Document
	trees []map[string]any
}

// state is the live config: the resolved tree and the layers it was built
// of, which errors consult to say where a value came from.
type state struct {
	tree   map[string]any
	layers []layer
}

// New loads every source, merges them in order (a later source overrides an
// earlier one key by key) and, unless WithoutWatch is given, starts watching
// the sources that can change. Order sources from weakest to strongest:
// defaults, files, remote, environment, flags.
//
// New fails if any source cannot be loaded or decoded, or if a placeholder
// cannot be resolved: there is no last good config yet to keep. ctx bounds
// loading and the watchers' set-up only.
func New(ctx context.Context, sources []Source, opts ...Option) (*Config, error) {
	o := options{logger: slog.Default(), decoders: builtinDecoders(), env: os.LookupEnv, watch: true}
	for _, opt := range opts {
		opt(&o)
	}
	for i, s := range sources {
		if isNil(s) {
			return nil, fmt.Errorf("config: source %d of %d is nil: remove it, or construct it (file.New, env.New, ...)", i, len(sources))
		}
	}
	c := &Config{opts: o, sources: sources, layers: make([]layer, len(sources))}
	for i, s := range sources {
		docs, err := s.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("config: loading %s: %w", sourceName(i, s), err)
		}
		l, err := c.decodeLayer(layer{}, docs)
		if err != nil {
			return nil, err
		}
		c.layers[i] = l
	}
	tree, err := c.build(c.layers)
	if err != nil {
		return nil, err
	}
	c.live.Store(&state{tree: tree, layers: c.layers})
	if !o.watch {
		return c, nil
	}

	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for i, s := range sources {
		w, err := s.Watch(ctx)
		if errors.Is(err, ErrNotWatchable) {
			continue
		}
		if err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("config: watching %s: %w", sourceName(i, s), err)
		}
		c.watchers = append(c.watchers, w)
		c.wg.Add(1)
		go c.watch(runCtx, i, sourceName(i, s), w)
	}
	return c, nil
}

// watch feeds one source's snapshots to apply until Close.
func (c *Config) watch(ctx context.Context, idx int, name string, w Watcher) {
	defer c.wg.Done()
	delay := 100 * time.Millisecond
	for {
		docs, err := w.Next(ctx)
		if err != nil {
			if errors.Is(err, ErrStopped) || ctx.Err() != nil {
				return
			}
			c.report(fmt.Errorf("config: watching %s: %w", name, err))
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			delay = min(2*delay, 10*time.Second)
			continue
		}
		delay = 100 * time.Millisecond
		c.apply(idx, docs)
	}
}

// apply installs a source's new snapshot if everything built from it decodes
// and validates; otherwise nothing changes and the error is reported.
func (c *Config) apply(idx int, docs []Document) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()

	c.mu.Lock()
	notify, err := c.tryApply(idx, docs)
	if err == nil {
		c.lastErr = ""
	}
	c.mu.Unlock()
	if err != nil {
		c.report(err)
		return
	}
	for _, fn := range notify {
		fn()
	}
}

func (c *Config) tryApply(idx int, docs []Document) ([]func(), error) {
	if SameDocuments(docs, c.layers[idx].docs) {
		return nil, nil
	}
	l, err := c.decodeLayer(c.layers[idx], docs)
	if err != nil {
		return nil, err
	}
	layers := append([]layer(nil), c.layers...)
	layers[idx] = l
	tree, err := c.build(layers)
	if err != nil {
		return nil, err
	}
	st := &state{tree: tree, layers: layers}
	commits := make([]func() func(), 0, len(c.binds))
	for _, b := range c.binds {
		commit, err := b.prepare(c, st)
		if err != nil {
			return nil, err
		}
		if commit != nil {
			commits = append(commits, commit)
		}
	}
	c.layers = layers
	c.live.Store(st)
	notify := make([]func(), 0, len(commits))
	for _, commit := range commits {
		if fn := commit(); fn != nil {
			notify = append(notify, fn)
		}
	}
	return notify, nil
}

// decodeLayer decodes docs, reusing the trees of documents that did not
// change since prev.
func (c *Config) decodeLayer(prev layer, docs []Document) (layer, error) {
	l := layer{docs: docs, trees: make([]map[string]any, len(docs))}
	for i, d := range docs {
		if i < len(prev.docs) && prev.docs[i].Equal(d) {
			l.trees[i] = prev.trees[i]
			continue
		}
		t, err := c.decode(d)
		if err != nil {
			return layer{}, err
		}
		l.trees[i] = t
	}
	return l, nil
}

func (c *Config) decode(d Document) (map[string]any, error) {
	f := d.Format
	if f == "" {
		f = FormatOf(d.Name)
	}
	dec, ok := c.opts.decoders[f]
	if !ok {
		return nil, &SyntaxError{Document: d.Name, Err: fmt.Errorf("unknown format %q (name the document *.yaml, *.json, *.toml or *.properties, or set Document.Format)", f)}
	}
	t, err := dec(d.Data)
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			if se.Document == "" {
				se.Document = d.Name
				if se.key != "" {
					se.Document = d.originOf(se.key)
				}
			}
			return nil, se
		}
		return nil, &SyntaxError{Document: d.Name, Err: err}
	}
	if t == nil {
		t = map[string]any{}
	}
	return t, nil
}

func (c *Config) build(layers []layer) (map[string]any, error) {
	var merged map[string]any
	for _, l := range layers {
		for _, t := range l.trees {
			merged = merge(merged, t)
		}
	}
	if merged == nil {
		merged = map[string]any{}
	}
	return resolveTree(merged, c.opts.env, func(key string) string { return origin(layers, key) })
}

// report logs and hands err to the error handler, unless it is the same
// error as last time (a watcher that fires twice for one bad write).
func (c *Config) report(err error) {
	c.mu.Lock()
	dup := err.Error() == c.lastErr
	c.lastErr = err.Error()
	c.mu.Unlock()
	if dup {
		return
	}
	c.opts.logger.Warn("config: change rejected, the last good config stays live", "err", err)
	if c.opts.onError != nil {
		c.opts.onError(err)
	}
}

// checkKey rejects a key with an empty segment ("s..port", ".s", "s."),
// which no source can set and would otherwise silently match nothing.
func checkKey(key string) error {
	if key == "" {
		return nil
	}
	for seg := range strings.SplitSeq(key, ".") {
		if seg == "" {
			return fmt.Errorf("config: key %q has an empty segment: write keys as a.b.c", key)
		}
	}
	return nil
}

// checkUnknown deals with the keys under key that no field of the bound type
// names: with StrictKeys it returns them as errors, otherwise it logs each
// once per source. A key on the path of another Value's key is left to that
// Value's type.
func (c *Config) checkUnknown(st *state, key string, unknown []unknownKey) error {
	var errs []error
	for _, u := range unknown {
		if c.boundElsewhere(key, u.key) {
			continue
		}
		e := &UnknownKeyError{Key: u.key, Source: origin(st.layers, u.key), Nearest: u.nearest}
		if c.opts.strict {
			errs = append(errs, e)
			continue
		}
		c.warnMu.Lock()
		id := e.Source + "\x00" + strings.ToLower(e.Key)
		seen := c.warned[id]
		if !seen {
			if c.warned == nil {
				c.warned = map[string]bool{}
			}
			c.warned[id] = true
		}
		c.warnMu.Unlock()
		if !seen {
			c.opts.logger.Warn("config: unknown key ignored; fix its name or remove it (config.StrictKeys makes this an error)",
				"key", e.Key, "source", e.Source, "nearest", e.Nearest)
		}
	}
	return errors.Join(errs...)
}

// boundElsewhere reports whether k lies on the path of a Value bound at a
// key other than key.
func (c *Config) boundElsewhere(key, k string) bool {
	keys := c.bindKeys.Load()
	if keys == nil {
		return false
	}
	for _, b := range *keys {
		if strings.EqualFold(b, key) {
			continue
		}
		if onPath(b, k) || onPath(k, b) {
			return true
		}
	}
	return false
}

// onPath reports whether k is p or lies under it, ignoring case.
func onPath(p, k string) bool {
	if p == "" {
		return false // the root is everyone's; it excuses nothing
	}
	return strings.EqualFold(p, k) || len(k) > len(p) && k[len(p)] == '.' && strings.EqualFold(k[:len(p)], p)
}

// Get returns the live value at a dotted key ("db.pool.size"; "" is the
// whole config) as decoded: map[string]any, []any, string, bool, int64,
// uint64, float64 or time.Time. The result is a copy the caller may keep.
func (c *Config) Get(key string) (any, bool) {
	if checkKey(key) != nil {
		return nil, false
	}
	v, ok := lookup(c.live.Load().tree, key)
	if !ok {
		return nil, false
	}
	return deepCopy(v), true
}

// Scan fills v, a pointer to a struct (or any supported type), from the live
// config; see ScanKey.
func (c *Config) Scan(v any) error { return c.ScanKey("", v) }

// ScanKey fills v from the sub-tree at a dotted key. Fields keep their
// current values when the config does not mention them and they have no
// default tag. It returns every problem found (joined): *TypeError,
// *MissingKeyError, *ValidationError, and with StrictKeys *UnknownKeyError;
// each names the key and where its value came from.
func (c *Config) ScanKey(key string, v any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	st := c.live.Load()
	node, ok := lookup(st.tree, key)
	unknown, err := scanKeys(node, ok, v, key, false)
	if kerr := c.checkUnknown(st, key, unknown); kerr != nil {
		err = errors.Join(err, kerr)
	}
	attribute(err, st.layers)
	return err
}

// Close stops every watcher and waits for their goroutines. Values bound
// earlier keep their last good contents. It is safe to call more than once;
// never call it from an observer or an error handler.
func (c *Config) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.cancel != nil {
		c.cancel()
	}
	var errs []error
	for _, w := range c.watchers {
		if err := w.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.wg.Wait()
	return errors.Join(errs...)
}
