package file

import (
	"context"
	"net/url"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func init() { registry.RegisterScheme("file", openURL) }

func openURL(ctx context.Context, u *url.URL) (registry.Registry, error) {
	dir, opts, err := ParseURL(u)
	if err != nil {
		return nil, err
	}
	return New(ctx, dir, opts...)
}

// ParseURL reads a file:// URL into the registry directory and options:
//
//	file:///absolute/path?ttl=2s&heartbeat=500ms&poll=500ms
//
// file:// with no path gives "", which New takes as DefaultDir(). The host part is empty
// or localhost: the directory is on this machine. Parameters: heartbeat, ttl and poll,
// positive Go durations. The rules every backend shares are registry.URLParser's: an
// unknown, repeated or empty parameter is an error. Errors wrap ErrInvalidConfig and
// registry.ErrInvalidURL.
func ParseURL(u *url.URL) (string, []Option, error) {
	p, err := registry.NewURLParser(u, "file", ErrInvalidConfig, "heartbeat", "poll", "ttl")
	if err != nil {
		return "", nil, err
	}
	if u.User != nil || u.Host != "" && u.Host != "localhost" {
		return "", nil, p.Errorf("host %q: want file:///absolute/path, or file:// for the default directory", u.Host)
	}
	var opts []Option
	for _, param := range []struct {
		key  string
		with func(d time.Duration) Option
	}{{"heartbeat", WithHeartbeat}, {"poll", WithPollInterval}, {"ttl", WithTTL}} {
		d, ok, err := p.Duration(param.key)
		if err != nil {
			return "", nil, err
		}
		if ok {
			opts = append(opts, param.with(d))
		}
	}
	return u.Path, opts, nil
}
