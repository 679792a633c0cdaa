package env

import (
	"context"
	"os"
	"strings"

	"github.com/tianshu-go/tianshu/config"
)

// Option configures New.
type Option func(*Source)

// WithEnviron replaces os.Environ as the list of "NAME=value" pairs read, so
// tests need not touch the process environment.
func WithEnviron(fn func() []string) Option { return func(s *Source) { s.environ = fn } }

// Source turns environment variables into config keys. Create it with New.
type Source struct {
	prefix  string
	environ func() []string
}

// New returns a Source over the variables named PREFIX_...: the prefix and
// its underscore are dropped, the rest is lower-cased, and a double
// underscore separates levels, so with prefix "APP" the variable
// APP_DB__MAX_CONNS sets the key "db.max_conns". An empty prefix takes every
// variable, which is rarely what you want. Lists are written comma-separated
// (APP_PEERS=a,b,c) or by index (APP_PEERS__0=a).
func New(prefix string, opts ...Option) *Source {
	s := &Source{prefix: prefix, environ: os.Environ}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Key returns the config key a variable sets, or false when the variable
// does not carry the prefix.
func (s *Source) Key(name string) (string, bool) {
	if s.prefix != "" {
		p := s.prefix + "_"
		if len(name) <= len(p) || !strings.EqualFold(name[:len(p)], p) {
			return "", false
		}
		name = name[len(p):]
	}
	if name == "" {
		return "", false
	}
	return strings.ReplaceAll(strings.ToLower(name), "__", "."), true
}

// Load implements config.Source. Its one document is named after the prefix
// ("env APP_*"), and errors about a value name its variable ("env
// APP_DB__PORT"); a variable that is both a value and a section (APP_DB and
// APP_DB__HOST), or one with an empty level (APP_DB____PORT), makes the
// Config reject it with a *config.SyntaxError.
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	values := map[string]string{}
	origins := map[string]string{}
	for _, kv := range s.environ() {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if key, ok := s.Key(name); ok {
			values[key] = val
			origins[key] = "env " + name
		}
	}
	if len(values) == 0 {
		return nil, nil
	}
	doc := config.PropertiesDocument(s.String(), values)
	doc.Origins = origins // errors name the variable, not the whole environment
	return []config.Document{doc}, nil
}

// String names the source in errors: "env APP_*".
func (s *Source) String() string { return "env " + s.prefix + "_*" }

// Watch implements config.Source: a process's environment does not change
// under it, so it returns config.ErrNotWatchable.
func (s *Source) Watch(context.Context) (config.Watcher, error) { return nil, config.ErrNotWatchable }
