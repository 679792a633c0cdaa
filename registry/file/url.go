package file

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("file", openURL) }

// urlParam returns the option a query parameter of a file:// URL sets.
func urlParam(key string) (func(time.Duration) Option, bool) {
	switch key {
	case "heartbeat":
		return WithHeartbeat, true
	case "ttl":
		return WithTTL, true
	case "poll":
		return WithPollInterval, true
	}
	return nil, false
}

// openURL opens file:///absolute/path?ttl=2s&heartbeat=500ms&poll=500ms; file:// with no
// path opens DefaultDir().
func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	if u.Opaque != "" || u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("%w: URL %q: want file:///absolute/path, or file:// for the default directory", ErrInvalidConfig, u.Redacted())
	}
	var opts []Option
	for key, vals := range u.Query() {
		with, ok := urlParam(key)
		if !ok {
			return nil, fmt.Errorf("%w: URL %q: unknown parameter %q (known: heartbeat, poll, ttl)", ErrInvalidConfig, u.Redacted(), key)
		}
		d, err := time.ParseDuration(vals[len(vals)-1])
		if err != nil {
			return nil, fmt.Errorf("%w: URL %q: parameter %s: %w", ErrInvalidConfig, u.Redacted(), key, err)
		}
		opts = append(opts, with(d))
	}
	return New(ctx, u.Path, opts...)
}
