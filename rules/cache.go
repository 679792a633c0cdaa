package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/internal/atomicfile"
	"github.com/tianshu-go/tianshu/internal/backoff"
)

// WithCache keeps a copy of the rules in force at path, rewritten (atomically) after each
// change, so that a consumer that starts while its config center is down starts with the
// last good rules it had rather than none: when the sources cannot be read at the start,
// Watch puts the cached rules in force and keeps trying the sources in the background,
// following them as soon as they answer with a valid document. A document the sources do
// give at the start and that is invalid is still Watch's error: the cache stands in for a
// center that cannot be reached, not for a bad document. A cache that cannot be read or
// is invalid is an error too, naming the file.
func WithCache(path string) WatchOption {
	return func(o *watchOptions) error {
		if path == "" {
			return fmt.Errorf("%w: WithCache(\"\"): pass a file path, or leave the option out", ErrOption)
		}
		o.cache = path
		return nil
	}
}

// unreachable says whether err, from config.New, is a source that could not be read rather
// than a document that was read and refused.
func unreachable(err error) bool {
	for _, refused := range []error{config.ErrSyntax, config.ErrType, config.ErrMissingKey,
		config.ErrInvalid, config.ErrUnknownKey, ErrInvalid} {
		if errors.Is(err, refused) {
			return false
		}
	}
	return true
}

// readCache returns the rules cached at path, validated.
func readCache(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: cache: %w", err)
	}
	r := &Rules{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("rules: cache %s: %w", path, err)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("rules: cache %s: %w", path, err)
	}
	return r, nil
}

// writeCache writes r to path; a failure is logged, not returned: the rules in force do
// not depend on it.
func (o *watchOptions) writeCache(r *Rules) {
	if o.cache == "" {
		return
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err == nil {
		err = atomicfile.Write(o.cache, b)
	}
	if err != nil {
		o.logger.Warn("rules: the cache of the last good rules was not written", "path", o.cache, "err", err)
	}
}

// startFromCache puts the cached rules in force after the sources failed with first, and
// connects to the sources in the background until they answer; then the store follows
// them as Watch's does.
func startFromCache(sources []config.Source, o watchOptions, copts []config.Option, first error) (*Store, error) {
	cached, err := readCache(o.cache)
	if err != nil {
		return nil, fmt.Errorf("rules: the sources cannot be read (%w), and neither can the cache: %w", first, err)
	}
	s, err := NewStore(cached)
	if err != nil {
		return nil, err
	}
	o.logger.Warn("rules: the sources cannot be read; the cached rules are in force until they can",
		"cache", o.cache, "err", first)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var stop func() error // the follower's, once connected; read after done is closed
	go func() {
		defer close(done)
		reported := first.Error()
		for attempt := 0; ; attempt++ {
			if !backoff.Sleep(ctx, backoff.Default.Delay(attempt)) {
				return
			}
			cfg, err := config.New(ctx, sources, copts...)
			if err == nil {
				if stop, err = follow(cfg, s, o); err == nil {
					o.logger.Info("rules: the sources answer again; following them", "cache", o.cache)
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err.Error() != reported { // once per distinct error, as config reports
				reported = err.Error()
				o.logger.Warn("rules: the sources still cannot be followed; the cached rules stay", "err", err)
				if o.onError != nil {
					o.onError(err)
				}
			}
		}
	}()
	s.closer = func() error {
		cancel()
		<-done
		if stop != nil {
			return stop()
		}
		return nil
	}
	return s, nil
}

// follow binds cfg's rules and keeps s on them, writing the cache after each change; it
// closes cfg when binding fails. It returns what stops following.
func follow(cfg *config.Config, s *Store, o watchOptions) (stop func() error, err error) {
	v, err := bind(cfg)
	if err != nil {
		_ = cfg.Close()
		return nil, fmt.Errorf("rules: %w", err)
	}
	// One lock for the observer and the catch-up below, so that neither installs an older
	// document after a newer one.
	var mu sync.Mutex
	apply := func() {
		mu.Lock()
		defer mu.Unlock()
		if r := v.Load(); r != s.Load() {
			if s.Set(r) == nil { // already validated by config
				o.writeCache(r)
			}
		}
	}
	cancel := v.OnChange(func(_, _ *Rules) { apply() })
	apply() // the document read at the start, and a change between Bind and OnChange
	return func() error {
		cancel()
		return cfg.Close()
	}, nil
}
