package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tianshu-go/tianshu/config"
)

// ErrOption is wrapped by the error Watch returns for an option given a value that cannot
// work.
var ErrOption = errors.New("rules: bad option")

// WatchOption configures Watch. A bad value is an error from Watch, never a silent default.
type WatchOption func(*watchOptions) error

type watchOptions struct {
	logger  *slog.Logger
	onError func(error)
	cache   string // WithCache's path
}

// WithErrorHandler has fn receive every rejected rules document and every failure to
// watch a source, once per distinct error (the same mistake written again, or a config
// center that stays down, is not reported again until a change succeeds). fn runs on the
// goroutine that applies changes: it must not block for long or call Store.Close.
func WithErrorHandler(fn func(error)) WatchOption {
	return func(o *watchOptions) error {
		if fn == nil {
			return fmt.Errorf("%w: WithErrorHandler(nil): pass a func, or leave the option out", ErrOption)
		}
		o.onError = fn
		return nil
	}
}

// WithLogger sets where rejected documents and watch failures are logged, once per
// distinct error, with the error under "err"; the default is slog.Default().
func WithLogger(l *slog.Logger) WatchOption {
	return func(o *watchOptions) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil): pass a logger, or leave the option out for slog.Default()", ErrOption)
		}
		o.logger = l
		return nil
	}
}

// Watch reads the rules document at Key from sources, merged as config.New merges them
// (later over earlier), and returns a Store holding it that follows every change until
// Close. A change is decoded and validated whole before it is put in force: a document
// that does not parse, names a key no field reads (a typo must not silently do nothing),
// or fails Validate is rejected, the last good rules stay in force, and the error is
// reported once (WithErrorHandler, and the log). A source that becomes unreachable leaves
// the last good rules in force too; its watcher resumes when the source comes back.
//
// Watch fails when the rules cannot be read or are invalid at the start: there are no last
// good rules yet, unless WithCache keeps them from an earlier run. A source without a
// rules document gives an empty Store (no rules). ctx bounds the first read and the
// watchers' set-up only. Close the Store to stop watching (tianshu.WithCloser(store) does
// it when an App stops).
func Watch(ctx context.Context, sources []config.Source, opts ...WatchOption) (*Store, error) {
	o := watchOptions{logger: slog.Default()}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: a nil WatchOption", ErrOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	copts := []config.Option{config.StrictKeys(), config.WithLogger(o.logger)}
	if o.onError != nil {
		copts = append(copts, config.WithErrorHandler(o.onError))
	}
	cfg, err := config.New(ctx, sources, copts...)
	if err != nil {
		if o.cache != "" && unreachable(err) {
			return startFromCache(sources, o, copts, err)
		}
		return nil, fmt.Errorf("rules: %w", err)
	}
	s, err := NewStore(nil)
	if err != nil {
		_ = cfg.Close()
		return nil, err
	}
	stop, err := follow(cfg, s, o)
	if err != nil {
		return nil, err
	}
	s.closer = stop
	return s, nil
}

// Read reads the rules document at Key from sources once, as Watch reads it (merged,
// strict about unknown keys, validated), without watching them: for tools that check or
// show a document.
func Read(ctx context.Context, sources []config.Source) (*Rules, error) {
	cfg, err := config.New(ctx, sources, config.StrictKeys(), config.WithoutWatch())
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	defer cfg.Close()
	v, err := bind(cfg)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return v.Load(), nil
}

// bind binds the rules at Key. Whole: a rules document holds no other component's
// section, so "rules: {overrides: {...}}" is a mistake like a misspelt field.
func bind(cfg *config.Config) (*config.Value[Rules], error) {
	return config.Bind[Rules](cfg, Key, config.Whole())
}
