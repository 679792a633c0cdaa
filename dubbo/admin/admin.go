package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/rules"
)

// ErrOption is wrapped by Watch's error for an option or a consumer that cannot work.
var ErrOption = errors.New("dubbo/admin: bad option")

// Backend is where the rules are kept: the config centre Dubbo Admin writes them to
// (ZooKeeper or Nacos), or a directory (Dir).
type Backend struct {
	name string
	// open returns sources covering keys, and what closes them.
	open func(ctx context.Context, keys []string) ([]watched, func() error, error)
}

// watched is a source and the keys its documents are.
type watched struct {
	src  config.Source
	keys []string
}

// ZooKeeper reads the rules from the nodes dubbo.ConfigRoot/<key> (/dubbo/config/dubbo/...)
// through the session of s, a *zookeeper.Registry of package registry/zookeeper: the one
// the consumer discovers its providers with.
func ZooKeeper(s zkconfig.Session) Backend {
	return Backend{name: "zookeeper", open: func(_ context.Context, keys []string) ([]watched, func() error, error) {
		if s == nil {
			return nil, nil, fmt.Errorf("%w: ZooKeeper(nil): pass the *zookeeper.Registry", ErrOption)
		}
		srcs := make([]watched, len(keys))
		for i, k := range keys {
			src, err := zkconfig.Node(s, dubbo.ConfigRoot+"/"+k, zkconfig.WithFormat(config.YAML))
			if err != nil {
				return nil, nil, err
			}
			srcs[i] = watched{src, keys[i : i+1]}
		}
		return srcs, func() error { return nil }, nil
	}}
}

// Nacos reads the rules from the dataIds <key> of group dubbo.ConfigGroup ("dubbo") on the
// Nacos servers (host:port, the HTTP port). opts are package config/nacos's: the
// namespace of Dubbo's config centre (WithNamespace), credentials, and WithPoll, how
// often deletes are looked for when the server does not notify them (a removed rule takes
// up to that long to lift); a WithGroup among them is overridden.
func Nacos(servers []string, opts ...nacosconfig.Option) Backend {
	return Backend{name: "nacos", open: func(ctx context.Context, keys []string) ([]watched, func() error, error) {
		src, err := nacosconfig.New(ctx, servers, keys, append(slices.Clip(opts), nacosconfig.WithGroup(dubbo.ConfigGroup))...)
		if err != nil {
			return nil, nil, err
		}
		return []watched{{src, keys}}, src.Close, nil
	}}
}

// Dir reads the rules from files named <key> in dir (the node and dataId names, such as
// org.example.Greeter:1.0.0:g.configurators), followed as they change: rules kept with the
// application, or copied out of Dubbo Admin, for a consumer without a config centre.
func Dir(dir string) Backend {
	return Backend{name: "dir " + dir, open: func(_ context.Context, keys []string) ([]watched, func() error, error) {
		srcs := make([]watched, len(keys))
		for i, k := range keys {
			srcs[i] = watched{file.New(filepath.Join(dir, k), file.Optional()), keys[i : i+1]}
		}
		return srcs, func() error { return nil }, nil
	}}
}

// Option configures Watch. A bad value is an error from Watch.
type Option func(*options) error

type options struct {
	log     *slog.Logger
	onError func(error)
	base    *rules.Store
}

// WithBase puts Dubbo Admin's rules over the rules of base (a Store of rules.Watch following
// the consumer's own rules document), so that one Store carries both: the translation's
// instance overrides replace base's of the same address, and the rest of base (routes,
// method policies, limits) stays. A change of either applies.
func WithBase(base *rules.Store) Option {
	return func(o *options) error {
		if base == nil {
			return fmt.Errorf("%w: WithBase(nil): pass the rules.Store, or leave the option out", ErrOption)
		}
		o.base = base
		return nil
	}
}

// WithLogger sets where rejected rules, what Tianshu leaves out of them and watch failures
// are logged, each once, with the error under "err"; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil): pass a logger, or leave the option out", ErrOption)
		}
		o.log = l
		return nil
	}
}

// WithErrorHandler has fn receive every rejected rule (wrapping dubbo.ErrInvalidRule) and
// every failure to watch a source, once each, on the goroutine that applies changes.
func WithErrorHandler(fn func(error)) Option {
	return func(o *options) error {
		if fn == nil {
			return fmt.Errorf("%w: WithErrorHandler(nil): pass a func, or leave the option out", ErrOption)
		}
		o.onError = fn
		return nil
	}
}

// Watcher follows Dubbo Admin's rules for one consumer and keeps their translation in a
// rules.Store; pass Store to rpc.WithRules.
type Watcher struct {
	store    *rules.Store
	consumer dubbo.RuleScope
	o        options

	mu       sync.Mutex
	data     map[string][]byte      // the content of each key present
	good     map[string]*dubbo.Rule // the last good rule of each key present
	reported map[string]string      // the error last reported, by key or source
	notes    map[string]bool        // the notes of the rules in force, each logged once

	cancel   context.CancelFunc
	unsub    func() // stops following the base Store
	watchers []config.Watcher
	closeSrc func() error
	wg       sync.WaitGroup
	once     sync.Once
	closeErr error
}

// Watch reads the rules Dubbo Admin keeps for consumer c in backend b (the keys of
// c.Keys), translates them into Tianshu's governance rules (dubbo.RuleScope.Translate) and
// follows every change until Close: a rule written, changed or deleted applies to the
// consumer's next calls, without reconnecting.
//
// A rule that cannot be read is logged once and left out, and the last good version of
// it stays in force; what Tianshu cannot apply of a rule (a condition router, a match
// condition, a parameter other than weight and disabled) is logged once too. A config
// centre that goes down leaves the rules in force until it comes back. Watch fails when a
// source cannot be watched at the start, for a bad option, and for a consumer without
// services (ErrOption). ctx bounds the start only.
//
//	reg, err := zookeeper.New(ctx, servers, zookeeper.WithLayout(zookeeper.LayoutDubbo))
//	w, err := admin.Watch(ctx, admin.ZooKeeper(reg), dubbo.RuleScope{Application: "shop",
//		Services: []dubbo.Reference{{Interface: "org.example.Greeter", Providers: []string{"greeter"}}}})
//	defer w.Close()
//	conn, err := rpc.Dial(ctx, "tianshu:///org.example.Greeter", rpc.WithDiscovery(reg),
//		rpc.WithDubbo("", ""), rpc.WithRules(w.Store()))
func Watch(ctx context.Context, b Backend, c dubbo.RuleScope, opts ...Option) (*Watcher, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: a nil Option", ErrOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if b.open == nil {
		return nil, fmt.Errorf("%w: a zero Backend: use ZooKeeper or Nacos", ErrOption)
	}
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOption, err)
	}
	store, _ := rules.NewStore(nil) // empty rules: always valid
	w := &Watcher{store: store, consumer: c, o: o, data: map[string][]byte{}, good: map[string]*dubbo.Rule{},
		reported: map[string]string{}, notes: map[string]bool{}}
	keys := c.Keys()
	srcs, closeSrc, err := b.open(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("dubbo/admin: %s: %w", b.name, err)
	}
	w.closeSrc = closeSrc
	var runCtx context.Context
	runCtx, w.cancel = context.WithCancel(context.Background())
	for _, ws := range srcs {
		cw, err := ws.src.Watch(ctx)
		if err == nil {
			var docs []config.Document
			if docs, err = cw.Next(ctx); err == nil { // the current snapshot, at once
				w.update(ws.keys, docs)
			} else {
				_ = cw.Stop()
			}
		}
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("dubbo/admin: watch %v: %w", ws.src, err)
		}
		w.watchers = append(w.watchers, cw)
	}
	w.apply()
	if o.base != nil {
		// apply takes w.mu, never the base Store's lock: no cycle with its Set.
		w.unsub = o.base.Subscribe(func(*rules.Rules) { w.apply() })
	}
	for i, cw := range w.watchers {
		w.wg.Add(1)
		go w.follow(runCtx, cw, srcs[i].keys, fmt.Sprint(srcs[i].src))
	}
	return w, nil
}

// Store returns the store holding the translated rules, for rpc.WithRules.
func (w *Watcher) Store() *rules.Store { return w.store }

// Close stops following the rules; those in force stay in the Store. It is safe to call
// more than once.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		if w.unsub != nil {
			w.unsub()
		}
		if w.cancel != nil {
			w.cancel()
		}
		var errs []error
		for _, cw := range w.watchers {
			errs = append(errs, cw.Stop())
		}
		w.wg.Wait()
		if w.closeSrc != nil {
			errs = append(errs, w.closeSrc())
		}
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

// follow applies each snapshot of one source's watcher until it stops.
func (w *Watcher) follow(ctx context.Context, cw config.Watcher, keys []string, name string) {
	defer w.wg.Done()
	attempt := 0
	for {
		docs, err := cw.Next(ctx)
		if errors.Is(err, config.ErrStopped) || ctx.Err() != nil {
			return
		}
		if err != nil {
			// The watcher retries by itself; report once and pause before asking again.
			w.report(name, fmt.Errorf("dubbo/admin: watch %s: %w", name, err), "cannot watch Dubbo Admin's rules; the rules in force stay")
			t := time.NewTimer(backoff.Default.Delay(attempt))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			attempt++
			continue
		}
		attempt = 0
		w.mu.Lock()
		delete(w.reported, name)
		w.mu.Unlock()
		if w.update(keys, docs) {
			w.apply()
		}
	}
}

// update records a snapshot covering keys, and reports whether any key changed.
func (w *Watcher) update(keys []string, docs []config.Document) bool {
	byKey := make(map[string][]byte, len(docs))
	for _, d := range docs {
		byKey[path.Base(d.Name)] = d.Data
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := false
	for _, k := range keys {
		data, ok := byKey[k]
		old, had := w.data[k]
		if ok == had && string(old) == string(data) {
			continue
		}
		changed = true
		if !ok {
			delete(w.data, k)
			delete(w.good, k)
			delete(w.reported, k)
			continue
		}
		w.data[k] = data
		r, err := dubbo.ParseRule(k, data)
		if err != nil {
			kept := "no earlier version of it is in force"
			if _, ok := w.good[k]; ok {
				kept = "its last good version stays in force"
			}
			w.reportLocked(k, err, "Dubbo Admin rule rejected; "+kept)
			continue
		}
		w.good[k] = r
		delete(w.reported, k)
	}
	return changed
}

// apply translates the good rules and puts them in force, logging each new note once.
func (w *Watcher) apply() {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, notes := w.consumer.Translate(w.good)
	if w.o.base != nil {
		r = merge(w.o.base.Load(), r)
	}
	fresh := map[string]bool{}
	for _, n := range notes {
		fresh[n] = true
		if !w.notes[n] {
			w.o.log.Info("Dubbo Admin rule partly applied", "note", n)
		}
	}
	w.notes = fresh
	if err := w.store.Set(r); err != nil {
		// Translate gives valid rules; this guards the Store against a mistake there.
		w.reportLocked("translation", fmt.Errorf("dubbo/admin: %w", err), "translated rules rejected; the rules in force stay")
	}
}

// report logs err under "err" and passes it to the error handler, unless it is the error
// already reported for what.
func (w *Watcher) report(what string, err error, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reportLocked(what, err, msg)
}

func (w *Watcher) reportLocked(what string, err error, msg string) {
	if w.reported[what] == err.Error() {
		return
	}
	w.reported[what] = err.Error()
	w.o.log.Warn(msg, "key", what, "err", err)
	if w.o.onError != nil {
		w.o.onError(err)
	}
}

// merge returns base with the instance overrides of over in place of base's for the same
// address; neither is changed.
func merge(base, over *rules.Rules) *rules.Rules {
	if base == nil {
		return over
	}
	out := &rules.Rules{Defaults: base.Defaults, Services: maps.Clone(base.Services)}
	for name, s := range over.Services {
		if out.Services == nil {
			out.Services = map[string]rules.Service{}
		}
		b := out.Services[name]
		kept := slices.DeleteFunc(slices.Clone(b.Instances), func(in rules.Instance) bool {
			return in.Address != "" && slices.ContainsFunc(s.Instances, func(o rules.Instance) bool { return o.Address == in.Address })
		})
		b.Instances = append(kept, s.Instances...)
		out.Services[name] = b
	}
	return out
}
