package eureka

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
)

// Errors of this package, wrapped with details; test for them with errors.Is. Registry
// methods also return the registry package's errors (ErrInvalidInstance for an instance
// that cannot be stored, ErrUnavailable while no server answers, ErrClosed).
var (
	// ErrInvalidConfig: an option, URL or server address that cannot work, or a server
	// address with no Eureka REST API behind it (it answers 404 where /apps should be).
	ErrInvalidConfig = errors.New("eureka: invalid configuration")
	// ErrAuth: the server answered 401 or 403 (Spring Security in front of Eureka and no,
	// or wrong, credentials).
	ErrAuth = errors.New("eureka: credentials refused")
	// ErrRejected: the server refused a request with a status retrying cannot change (a
	// 4xx other than 401, 403 and the 404 a renewal of a forgotten lease gets).
	ErrRejected = errors.New("eureka: request rejected")
	// ErrBadResponse: the server answered with a body this package cannot read.
	ErrBadResponse = errors.New("eureka: malformed response")
	// ErrNotRegistered: SetStatus of an instance this Registry did not register.
	ErrNotRegistered = errors.New("eureka: instance not registered here")
	// ErrInvalidStatus: SetStatus with a status other than the four Status constants.
	ErrInvalidStatus = errors.New("eureka: invalid status")
)

// Defaults of the options. The lease and renewal values are Eureka's and Spring Cloud's own:
// Eureka servers compute the renewals they expect (self-preservation) from clients renewing
// every 30 s.
const (
	// DefaultRenewalInterval is how often an instance's lease is renewed.
	DefaultRenewalInterval = 30 * time.Second
	// DefaultLeaseDuration is the lease duration sent at registration: the server may
	// evict an instance it has not heard from for that long (in practice for twice that;
	// see the package documentation).
	DefaultLeaseDuration = 90 * time.Second
	// DefaultFetchInterval is how often a Registry that watches asks the server for the
	// changes since its last fetch (one small GET of /apps/delta).
	DefaultFetchInterval = 10 * time.Second
	// DefaultRequestTimeout bounds each HTTP request to one server.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultHealthCheckPath is the path of the health check URL registered for an
	// instance that serves HTTP: Tianshu's REST server answers liveness there.
	DefaultHealthCheckPath = "/healthz"
)

// Option configures New. Bad values make New fail with an error wrapping ErrInvalidConfig.
type Option func(*options)

type options struct {
	renewal    time.Duration
	lease      time.Duration
	fetch      time.Duration
	timeout    time.Duration
	retry      backoff.Policy
	username   string
	password   string
	healthPath string
	client     *http.Client
	log        *slog.Logger
	status     Status
}

// WithRenewalInterval sets how often each registered instance's lease is renewed, in whole
// seconds (rounded up); the default is DefaultRenewalInterval. It must be shorter than the
// lease duration.
func WithRenewalInterval(d time.Duration) Option { return func(o *options) { o.renewal = d } }

// WithLeaseDuration sets the lease duration registered with each instance, in whole seconds
// (rounded up); the default is DefaultLeaseDuration. It bounds, with the server's eviction
// timer and caches, how long an instance whose process died stays listed.
func WithLeaseDuration(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithFetchInterval sets how often a Registry with watches fetches the changes from the
// server; the default is DefaultFetchInterval. A watcher sees a change within this interval
// plus the server's response cache delay (30 s by default, none under the test settings).
func WithFetchInterval(d time.Duration) Option { return func(o *options) { o.fetch = d } }

// WithRequestTimeout bounds each HTTP request to one server; the default is
// DefaultRequestTimeout. A request that times out is tried on the next server.
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRetry sets the capped exponential backoff (with jitter) between attempts to register
// an instance the server did not take; the default is 100 ms doubling up to 10 s. Attempts
// never stop while the instance is registered here.
func WithRetry(base, max time.Duration) Option {
	return func(o *options) { o.retry = backoff.Policy{Base: base, Max: max} }
}

// WithBasicAuth sends HTTP basic credentials with every request, as a Eureka server behind
// Spring Security wants them (Spring's clients take them from user:password@ in the
// defaultZone URL).
func WithBasicAuth(username, password string) Option {
	return func(o *options) { o.username, o.password = username, password }
}

// WithHealthCheckPath sets the path of the healthCheckUrl registered for an instance with an
// http or https endpoint; the default is DefaultHealthCheckPath. It must start with a slash.
func WithHealthCheckPath(p string) Option { return func(o *options) { o.healthPath = p } }

// WithHTTPClient sends the requests through c (for TLS settings or a proxy); the default is
// a client of the Registry's own, whose idle connections Close closes. Its Timeout, if
// set, applies on top of the request timeout.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithInitialStatus sets the status instances are registered with; the default is
// StatusUp. A process that registers before it can serve registers StatusStarting and
// calls SetStatus(StatusUp) once ready; only StatusUp instances are discovered.
func WithInitialStatus(s Status) Option { return func(o *options) { o.status = s } }

// WithLogger sets the logger for registrations retried, renewals refused, skipped instances
// and failovers between servers; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func newOptions(opts []Option) (options, error) {
	o := options{
		renewal:    DefaultRenewalInterval,
		lease:      DefaultLeaseDuration,
		fetch:      DefaultFetchInterval,
		timeout:    DefaultRequestTimeout,
		retry:      backoff.Default,
		healthPath: DefaultHealthCheckPath,
		status:     StatusUp,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.renewal, o.lease = roundUpSecond(o.renewal), roundUpSecond(o.lease)
	switch {
	case o.renewal <= 0:
		return o, fmt.Errorf("%w: renewal interval %v must be positive", ErrInvalidConfig, o.renewal)
	case o.lease <= o.renewal:
		return o, fmt.Errorf("%w: lease duration %v must be longer than the renewal interval %v (Eureka's defaults: 90 s and 30 s)", ErrInvalidConfig, o.lease, o.renewal)
	case o.fetch <= 0:
		return o, fmt.Errorf("%w: fetch interval %v must be positive", ErrInvalidConfig, o.fetch)
	case o.timeout <= 0:
		return o, fmt.Errorf("%w: request timeout %v must be positive", ErrInvalidConfig, o.timeout)
	case o.retry.Base <= 0 || o.retry.Max < o.retry.Base:
		return o, fmt.Errorf("%w: retry backoff %v..%v must be positive and increasing", ErrInvalidConfig, o.retry.Base, o.retry.Max)
	case o.username == "" && o.password != "":
		return o, fmt.Errorf("%w: a password without a user name", ErrInvalidConfig)
	case !strings.HasPrefix(o.healthPath, "/"):
		return o, fmt.Errorf("%w: health check path %q must start with /", ErrInvalidConfig, o.healthPath)
	case !o.status.valid():
		return o, fmt.Errorf("%w: initial status %q: want UP, DOWN, STARTING or OUT_OF_SERVICE", ErrInvalidConfig, o.status)
	}
	return o, nil
}

func roundUpSecond(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// parseServerURLs checks and normalises the servers' REST roots, such as
// http://10.0.0.1:8761/eureka: http or https, a host, no query; a trailing slash is dropped.
func parseServerURLs(raw []string) ([]string, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: no server URL (want such as http://127.0.0.1:8761/eureka)", ErrInvalidConfig)
	}
	out := make([]string, 0, len(raw))
	for _, s := range raw {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%w: server URL %q: %w", ErrInvalidConfig, s, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%w: server URL %q: want http(s)://host[:port]/path, with no query and credentials given WithBasicAuth", ErrInvalidConfig, u.Redacted())
		}
		out = append(out, strings.TrimRight(u.String(), "/"))
	}
	return out, nil
}
