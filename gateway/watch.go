package gateway

import (
	"context"
	"fmt"
	"sync"

	"github.com/tianshu-go/tianshu/config"
)

// Parse reads a gateway document (YAML, or JSON) with its routes under Key, strictly: a key
// no field reads is an error, as in Watch. It validates the whole document; every fault
// is reported, each naming its place.
func Parse(data []byte) (*Config, error) {
	return Read(context.Background(), []config.Source{config.Bytes("gateway.yaml", config.YAML, data)})
}

// Read reads the gateway document at Key from sources once, merged as config.New merges
// them, strictly and validated, without watching them: for tools that check a document.
func Read(ctx context.Context, sources []config.Source) (*Config, error) {
	cfg, err := config.New(ctx, sources, config.StrictKeys(), config.WithoutWatch())
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	defer cfg.Close()
	v, err := bind(cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return v.Load(), nil
}

// bind binds the document at Key. Whole: in a gateway document "gateway: {rutes: ...}"
// is a mistake, never another component's section.
func bind(cfg *config.Config) (*config.Value[Config], error) {
	return config.Bind[Config](cfg, Key, config.Whole())
}

// Watch reads the routes at Key from sources (a file, etcd, ZooKeeper, Nacos: any
// config.Source), merged as config.New merges them, puts them in force and follows every
// change until Close. A change is decoded strictly and validated whole before it is
// applied: a document that does not parse, has a key no field reads, or fails Validate is
// rejected whole, the routes in force stay, and the error is reported once
// (WithErrorHandler, and the log). A source that becomes unreachable leaves the routes in
// force too; its watcher resumes when it comes back, within the source's reconnect
// backoff.
//
// Watch fails when the routes cannot be read or are invalid at the start. ctx bounds the
// first read and the watchers' set-up only. Watch may be called once.
func (g *Gateway) Watch(ctx context.Context, sources []config.Source) error {
	copts := []config.Option{config.StrictKeys(), config.WithLogger(g.log)}
	var once onceErr
	report := func(err error) {
		if once.first(err) && g.opts.onError != nil {
			g.opts.onError(err)
		}
	}
	copts = append(copts, config.WithErrorHandler(report))
	cfg, err := config.New(ctx, sources, copts...)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	v, err := bind(cfg)
	if err != nil {
		_ = cfg.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	if err := g.Apply(v.Load()); err != nil {
		_ = cfg.Close()
		return err
	}
	// One lock for the observer and the catch-up below, so that neither applies an older
	// document after a newer one.
	var mu sync.Mutex
	var applied *Config = v.Load()
	apply := func() {
		mu.Lock()
		defer mu.Unlock()
		c := v.Load()
		if c == applied {
			return
		}
		if err := g.Apply(c); err != nil {
			// Validated by config; what fails here is building it (a verifier, a
			// breaker): rejected whole, as a document that did not validate.
			if once.first(err) {
				g.log.Error("gateway: route set rejected; the routes in force stay", "err", err)
				if g.opts.onError != nil {
					g.opts.onError(err)
				}
			}
			return
		}
		applied = c
		once.reset()
	}
	cancel := v.OnChange(func(_, _ *Config) { apply() })
	apply()
	g.mu.Lock()
	if g.stop != nil || g.closed {
		g.mu.Unlock()
		cancel()
		_ = cfg.Close()
		return fmt.Errorf("%w: Watch called twice, or after Close", ErrOption)
	}
	g.stop = func() error {
		cancel()
		return cfg.Close()
	}
	g.mu.Unlock()
	return nil
}

// onceErr remembers the last error reported, so that each distinct one is reported once.
type onceErr struct {
	mu   sync.Mutex
	last string
}

func (o *onceErr) first(err error) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err.Error() == o.last {
		return false
	}
	o.last = err.Error()
	return true
}

func (o *onceErr) reset() {
	o.mu.Lock()
	o.last = ""
	o.mu.Unlock()
}
