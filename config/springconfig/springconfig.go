package springconfig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
)

// Errors of this package, wrapped with details; test for them with errors.Is. A server that
// cannot be reached wraps registry.ErrUnavailable, as the other remote sources do.
var (
	// ErrInvalidConfig: a server URL, the application, a profile, the label or an option is
	// malformed.
	ErrInvalidConfig = errors.New("springconfig: invalid configuration")
	// ErrBadResponse: the server answered, but not with a usable Environment: a status other
	// than 200, a body that is not the JSON Spring sends, one larger than the limit, or flat
	// keys that cannot be nested ("a=1" beside "a.b=2", a list without its element 0).
	ErrBadResponse = errors.New("springconfig: bad response from the Config Server")
)

// Defaults of the options.
const (
	DefaultProfile = "default"
	// DefaultPoll is how often a watcher asks the server again. Each poll is one GET of the
	// whole Environment; with N processes the server answers N/30 requests a second, and a
	// git-backed server may fetch from its remote on each (see WithPoll).
	DefaultPoll    = 30 * time.Second
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBody caps an answer's size: far above any real configuration, far below
	// what would hurt to hold in memory twice.
	DefaultMaxBody = 16 << 20
)

// Option configures New. Options that get a bad value make New fail with ErrInvalidConfig.
type Option func(*options) error

type options struct {
	profiles []string
	label    string
	poll     time.Duration
	timeout  time.Duration
	retry    backoff.Policy
	client   *http.Client
	user     string
	password string
	hasAuth  bool
	maxBody  int64
	log      *slog.Logger
}

// WithProfiles sets the profiles asked for, in Spring's order: a later profile's files win
// over an earlier one's (default "default").
func WithProfiles(profiles ...string) Option {
	return func(o *options) error {
		if len(profiles) == 0 {
			return fmt.Errorf("%w: no profile", ErrInvalidConfig)
		}
		for _, p := range profiles {
			if err := checkName("profile", p); err != nil {
				return err
			}
		}
		o.profiles = append([]string(nil), profiles...)
		return nil
	}
}

// WithLabel sets the label: a git branch, tag or commit, or for the native profile a
// subdirectory of its search locations (default none: the server's default label). A label
// with "/" is sent as Spring expects it, with "(_)" in its place.
func WithLabel(label string) Option {
	return func(o *options) error {
		if label == "" || strings.TrimSpace(label) != label {
			return fmt.Errorf("%w: label %q must be non-empty without surrounding spaces", ErrInvalidConfig, label)
		}
		o.label = label
		return nil
	}
}

// WithPoll sets how often a watcher asks the server again (default 30 s). The server sends
// no change events, so this is the longest a change takes to arrive; each poll costs one
// request carrying the whole Environment, and on a git backend possibly a fetch from the
// remote (spring.cloud.config.server.git.refresh-rate throttles that on the server). An
// unchanged answer costs a hash and nothing more here.
func WithPoll(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: poll interval %v must be positive", ErrInvalidConfig, d)
		}
		o.poll = d
		return nil
	}
}

// WithTimeout bounds each request, over all servers tried (default 10 s).
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidConfig, d)
		}
		o.timeout = d
		return nil
	}
}

// WithRetry sets the capped exponential backoff of a watcher whose request failed (default
// 200 ms up to 10 s); a retry never waits longer than the poll interval.
func WithRetry(base, max time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base {
			return fmt.Errorf("%w: retry backoff %v..%v: want 0 < base <= max", ErrInvalidConfig, base, max)
		}
		o.retry = backoff.Policy{Base: base, Max: max}
		return nil
	}
}

// WithBasicAuth sends a username and password, as a Config Server behind Spring Security
// expects (spring.cloud.config.username and password on Spring's side).
func WithBasicAuth(username, password string) Option {
	return func(o *options) error {
		if username == "" {
			return fmt.Errorf("%w: empty username", ErrInvalidConfig)
		}
		o.user, o.password, o.hasAuth = username, password, true
		return nil
	}
}

// WithHTTPClient sets the HTTP client (TLS, proxies, tracing). The default client keeps no
// idle connections: a request every poll interval gains nothing from one, and a stopped
// watcher leaves no connection behind.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil HTTP client", ErrInvalidConfig)
		}
		o.client = c
		return nil
	}
}

// WithMaxBody caps the size of an answer (default 16 MiB); a larger one is ErrBadResponse.
func WithMaxBody(n int64) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: body limit %d must be positive", ErrInvalidConfig, n)
		}
		o.maxBody = n
		return nil
	}
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
		}
		o.log = l
		return nil
	}
}

// checkName rejects what would change the request's path: an application or profile is one
// path segment, and Spring reads a comma as a list separator.
func checkName(what, s string) error {
	if s == "" || strings.TrimSpace(s) != s || strings.ContainsAny(s, "/,") {
		return fmt.Errorf("%w: %s %q must be non-empty, without surrounding spaces, / or ,", ErrInvalidConfig, what, s)
	}
	return nil
}

// Source is a config.Source over a Spring Cloud Config Server: the Environment the server
// serves at /{application}/{profiles}[/{label}], the same one a Spring application with
// spring.application.name={application} reads. Each property source of the answer is a
// document, lowest precedence first, so the merged config holds what Spring's Environment
// holds (see the package doc).
type Source struct {
	o       options
	servers []*url.URL
	app     string
}

var _ config.Source = (*Source)(nil)

// New returns a Source reading application's configuration from the Config Servers at
// servers (base URLs such as http://config:8888, or with the path prefix the server was
// given), tried in order on each request, as Spring's spring.cloud.config.uri list is. It
// makes no request: a wrong address shows at the first Load.
func New(servers []string, application string, opts ...Option) (*Source, error) {
	o := options{
		profiles: []string{DefaultProfile},
		poll:     DefaultPoll,
		timeout:  DefaultTimeout,
		retry:    backoff.Policy{Base: 200 * time.Millisecond, Max: 10 * time.Second},
		maxBody:  DefaultMaxBody,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.client == nil {
		o.client = &http.Client{Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			DisableKeepAlives: true,
		}}
	}
	if err := checkName("application", application); err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("%w: no server URL", ErrInvalidConfig)
	}
	s := &Source{o: o, app: application}
	for _, raw := range servers {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: server URL %q: %w", ErrInvalidConfig, raw, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%w: server URL %q: want http(s)://host[:port][/prefix]", ErrInvalidConfig, raw)
		}
		s.servers = append(s.servers, u)
	}
	return s, nil
}

// String names the source in config errors: the application, profiles and label asked for.
func (s *Source) String() string {
	name := "springconfig " + s.app + "/" + strings.Join(s.o.profiles, ",")
	if s.o.label != "" {
		name += "/" + s.o.label
	}
	return name
}

// path returns /{application}/{profiles}[/{label}], escaped.
func (s *Source) path() string {
	p := "/" + url.PathEscape(s.app) + "/" + url.PathEscape(strings.Join(s.o.profiles, ","))
	if s.o.label != "" {
		p += "/" + url.PathEscape(strings.ReplaceAll(s.o.label, "/", "(_)"))
	}
	return p
}

// fetch asks the servers in order and returns the first answer's body. A server that
// cannot be reached or answers 5xx passes the request to the next one.
func (s *Source) fetch(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.timeout)
	defer cancel()
	var errs []error
	for _, base := range s.servers {
		body, err, next := s.fetchFrom(ctx, base)
		if err == nil {
			return body, nil
		}
		errs = append(errs, err)
		if !next || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (s *Source) fetchFrom(ctx context.Context, base *url.URL) (body []byte, err error, tryNext bool) {
	u := base.JoinPath(s.path())
	// JoinPath would unescape the path's %2C and friends: keep the escaped form.
	u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + s.path()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err), false
	}
	req.Header.Set("Accept", "application/json")
	if s.o.hasAuth {
		req.SetBasicAuth(s.o.user, s.o.password)
	}
	resp, err := s.o.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("springconfig: GET %s: %w", u.Redacted(), ctx.Err()), false
		}
		return nil, fmt.Errorf("springconfig: GET %s: %w: %w", u.Redacted(), registry.ErrUnavailable, err), true
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, s.o.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("springconfig: GET %s: reading the answer: %w: %w", u.Redacted(), registry.ErrUnavailable, err), true
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("springconfig: GET %s: %w: status %s: %s", u.Redacted(), ErrBadResponse, resp.Status, excerpt(body)),
			resp.StatusCode >= 500
	}
	if int64(len(body)) > s.o.maxBody {
		return nil, fmt.Errorf("springconfig: GET %s: %w: larger than %d bytes", u.Redacted(), ErrBadResponse, s.o.maxBody), false
	}
	return body, nil, false
}

// excerpt returns the start of an error body for a message: enough to see Spring's
// {"error":...,"message":...}, never a whole page.
func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// Load asks the server for the Environment and returns its property sources as documents.
// An application the server has no files for is an empty snapshot. A server that cannot be
// reached is an error wrapping registry.ErrUnavailable; a bad answer, ErrBadResponse.
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	body, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	docs, err := parse(body)
	if err != nil {
		return nil, fmt.Errorf("springconfig: %s: %w", s, err)
	}
	return docs, nil
}

// Watch polls the server every WithPoll interval. The server keeps no version that every
// backend fills in (the native profile answers "version": null), so a watcher compares a
// hash of the whole answer: an unchanged one is neither parsed nor delivered. A failed
// request or a bad answer keeps the last good snapshot: Next returns the error once, not
// again while the same error repeats, and the watcher retries with backoff, never slower
// than the poll interval.
func (s *Source) Watch(ctx context.Context) (config.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	w := &watcher{s: s, cancel: cancel, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run(wctx)
	return w, nil
}

// watcher polls and hands out snapshots and errors. Like config.Mailbox it keeps only the
// newest undelivered snapshot, so a slow reader never sees an older state after a newer.
type watcher struct {
	s      *Source
	cancel context.CancelFunc
	wake   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	docs     []config.Document
	hasDocs  bool
	err      error
	stopped  bool
	lastSent []config.Document
	sentOnce bool
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	var lastHash [sha256.Size]byte
	haveHash, attempt, lastErr := false, 0, ""
	for {
		delay := w.s.o.poll
		body, err := w.s.fetch(ctx)
		if ctx.Err() != nil {
			return
		}
		var docs []config.Document
		if err == nil {
			if h := sha256.Sum256(body); !haveHash || h != lastHash {
				if docs, err = parse(body); err == nil {
					lastHash, haveHash = h, true
					w.put(docs)
				} else {
					err = fmt.Errorf("springconfig: %s: %w", w.s, err)
				}
			}
		}
		if err != nil {
			if msg := err.Error(); msg != lastErr {
				lastErr = msg
				w.putErr(err)
			}
			delay = min(w.s.o.retry.Delay(attempt), w.s.o.poll)
			attempt++
		} else {
			if lastErr != "" {
				w.s.o.log.Info("springconfig: the Config Server answers again", "source", w.s.String())
			}
			attempt, lastErr = 0, ""
		}
		if !backoff.Sleep(ctx, delay) {
			return
		}
	}
}

func (w *watcher) put(docs []config.Document) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sentOnce && config.SameDocuments(docs, w.lastSent) {
		w.docs, w.hasDocs = nil, false
	} else {
		w.docs, w.hasDocs = docs, true
	}
	w.signal()
}

func (w *watcher) putErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Next returns the newest snapshot not yet returned, or an error the watcher met since the
// last call (once per error; the watcher goes on retrying by itself). The first call
// waits for the first answer.
func (w *watcher) Next(ctx context.Context) ([]config.Document, error) {
	for {
		w.mu.Lock()
		switch {
		case w.stopped:
			w.mu.Unlock()
			return nil, config.ErrStopped
		case w.hasDocs:
			// A snapshot first: it is newer than any error met before it.
			docs := w.docs
			w.docs, w.hasDocs, w.err = nil, false, nil
			w.lastSent, w.sentOnce = docs, true
			w.mu.Unlock()
			return docs, nil
		case w.err != nil:
			err := w.err
			w.err = nil
			w.mu.Unlock()
			return nil, err
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-w.done:
			// Stopped: the next turn of the loop says so.
			w.mu.Lock()
			w.stopped = true
			w.mu.Unlock()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stop ends the polling, cancels a request in flight and waits for the poller to exit.
func (w *watcher) Stop() error {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopped = true
		w.mu.Unlock()
		w.cancel()
		<-w.done
	})
	return nil
}
