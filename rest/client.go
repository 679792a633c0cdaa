package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Errors of the client, wrapped with the service and the remedy; test for them with
// errors.Is. A request refused by a service's breaker fails with an error wrapping
// breaker.ErrOpen (and a *breaker.OpenError naming the service); errors of the instance
// itself (connection refused, reset, timeouts) come back as the transport returned them.
var (
	// ErrNoInstances: the registry lists no instance of the service with an endpoint of
	// the request's scheme (http or https), or none passing the version filter, or the
	// governance rules (WithRules) take every one out of traffic (the error then wraps
	// rules.ErrAllOut too).
	ErrNoInstances = errors.New("rest: no instance available")
	// ErrClientClosed: the request names a service and the Transport was closed.
	ErrClientClosed = errors.New("rest: client closed")
	// ErrInvalidClientOption: NewTransport or NewClient was given an option out of range.
	ErrInvalidClientOption = errors.New("rest: invalid client option")
)

// Request headers the client reads to route a request; they travel on to the instance, so
// that a chain of services keeps the same routing.
const (
	// TagHeader asks for instances with this tag (canary routing), the header gRPC calls
	// carry as x-tianshu-tag metadata: "X-Tianshu-Tag: canary".
	TagHeader = "X-Tianshu-Tag"
	// HashKeyHeader carries the consistent-hash key unless WithHashHeader names another.
	HashKeyHeader = "X-Tianshu-Hash-Key"
	// IdempotencyKeyHeader marks a request as safe to retry whatever its method.
	IdempotencyKeyHeader = "Idempotency-Key"
	// DefaultTagKey is the instance metadata key that holds an instance's tag.
	DefaultTagKey = "tag"
)

// Endpoint schemes the client sends to: an http:// URL goes to an instance's "http"
// endpoint, an https:// URL to its "https" endpoint.
const (
	schemeHTTP  = "http"
	schemeHTTPS = "https"
)

// ClientOption configures NewTransport and NewClient. Options only set values; the
// constructors check them together and return an error wrapping ErrInvalidClientOption.
type ClientOption func(*clientConfig)

type clientConfig struct {
	alg            pick.Algorithm
	filter         pick.Filter
	serviceFilters map[string]pick.Filter
	tagKey         string
	hashHeader     string
	hashKey        func(*http.Request) string
	hashSet        bool
	pickOpts       []pick.Option
	breakers       *breaker.Group
	breakersSet    bool
	noBreaker      bool
	policy         retry.Policy
	policySet      bool
	noRetry        bool
	budget         *retry.Budget
	budgetSet      bool
	retryStatuses  []int
	services       []string
	matcher        func(host string) bool
	matcherSet     bool
	fallback       http.RoundTripper
	fallbackSet    bool
	template       *http.Transport
	templateSet    bool
	telemetry      *telemetry.HTTPClient
	telemetrySet   bool
	noTelemetry    bool
	log            *slog.Logger
	rules          *rules.Store
	rulesSet       bool
	errs           []error
}

// WithBalancer sets the algorithm that picks an instance; the default is pick.AlgP2C (power
// of two choices over peak-EWMA latency, requests in flight and success rate), as for gRPC.
func WithBalancer(alg pick.Algorithm) ClientOption { return func(c *clientConfig) { c.alg = alg } }

// WithRouting sets the filters of every service: Version keeps only instances of that
// version, Zone prefers instances of the caller's zone (see pick.Router).
func WithRouting(f pick.Filter) ClientOption { return func(c *clientConfig) { c.filter = f } }

// WithServiceRouting sets the filters of one service, in place of WithRouting's.
func WithServiceRouting(service string, f pick.Filter) ClientOption {
	return func(c *clientConfig) {
		if c.serviceFilters == nil {
			c.serviceFilters = map[string]pick.Filter{}
		}
		c.serviceFilters[service] = f
	}
}

// WithTagKey sets the instance metadata key holding an instance's tag (default "tag").
func WithTagKey(key string) ClientOption { return func(c *clientConfig) { c.tagKey = key } }

// WithHashHeader sets the request header whose value is the consistent-hash key (default
// X-Tianshu-Hash-Key). It requires WithBalancer(pick.AlgConsistentHash).
func WithHashHeader(name string) ClientOption {
	return func(c *clientConfig) { c.hashHeader, c.hashSet = name, true }
}

// WithHashKey sets a function that returns a request's consistent-hash key (a user ID from
// a cookie, a path segment), in place of the header. An empty key spreads the request at
// random. It requires WithBalancer(pick.AlgConsistentHash).
func WithHashKey(key func(*http.Request) string) ClientOption {
	return func(c *clientConfig) { c.hashKey, c.hashSet = key, true }
}

// WithPickOptions tunes the algorithm and the instances' figures: ejection after transport
// failures (pick.WithEjection), P2C's probe interval (pick.WithProbeAfter), and so on.
func WithPickOptions(opts ...pick.Option) ClientOption {
	return func(c *clientConfig) { c.pickOpts = append(c.pickOpts, opts...) }
}

// WithBreakers guards each service with the breaker g holds under the service's name. The
// default is a group of adaptive breakers (breaker.NewGroup(nil)) that Close closes; a
// group given here is the caller's to close.
func WithBreakers(g *breaker.Group) ClientOption {
	return func(c *clientConfig) { c.breakers, c.breakersSet = g, true }
}

// WithoutBreaker sends every request without asking a breaker.
func WithoutBreaker() ClientOption { return func(c *clientConfig) { c.noBreaker = true } }

// WithRetry sets how idempotent requests are retried: MaxAttempts, the backoff
// (InitialBackoff, MaxBackoff, Multiplier, Jitter) and PerAttemptTimeout of p. Which
// requests and answers are retried is the client's rule, not p's Codes and Idempotent
// (those are gRPC's): see Transport. The default is retry.DefaultPolicy().
func WithRetry(p retry.Policy) ClientOption {
	return func(c *clientConfig) { c.policy, c.policySet = p, true }
}

// WithoutRetry sends each request once.
func WithoutRetry() ClientOption { return func(c *clientConfig) { c.noRetry = true } }

// WithRetryBudget sets the budget retries draw on (default retry.DefaultBudget(): retries
// stay under 10% of requests, with a burst of 10), shared by every service of the client.
func WithRetryBudget(b *retry.Budget) ClientOption {
	return func(c *clientConfig) { c.budget, c.budgetSet = b, true }
}

// WithRetryStatuses sets the response status codes worth another attempt of an idempotent
// request; the default is 502, 503 and 504, the answers of an instance or proxy that is
// going away or overloaded. Transport failures (refused, reset) are always retried.
func WithRetryStatuses(codes ...int) ClientOption {
	return func(c *clientConfig) { c.retryStatuses = slices.Clone(codes) }
}

// WithServices makes exactly these hosts services; every other host goes to the fallback.
func WithServices(names ...string) ClientOption {
	return func(c *clientConfig) { c.services = append(c.services, names...) }
}

// WithServiceMatcher decides which hosts are services, in place of DefaultServiceMatcher.
// It is called with the URL's host (with the port, if any) the first time a host is seen
// and for every request to a host that is not a service, so it must be fast.
func WithServiceMatcher(match func(host string) bool) ClientOption {
	return func(c *clientConfig) { c.matcher, c.matcherSet = match, true }
}

// WithFallback sets the transport for hosts that are not services (default
// http.DefaultTransport).
func WithFallback(rt http.RoundTripper) ClientOption {
	return func(c *clientConfig) { c.fallback, c.fallbackSet = rt, true }
}

// WithInstanceTransport sets the transport each instance's connections are made from: the
// client clones it once per instance and sets its dialer to the instance's address (a
// DialContext or DialTLSContext of t is kept and called with that address), and clears its
// Proxy. TLS, HTTP/2, h2c (t.Protocols with only UnencryptedHTTP2 for http:// URLs), timeouts
// and pool sizes are t's. The default is a clone of http.DefaultTransport without a proxy
// and with MaxIdleConnsPerHost 100.
func WithInstanceTransport(t *http.Transport) ClientOption {
	return func(c *clientConfig) { c.template, c.templateSet = t, true }
}

// WithClientTelemetry records each attempt with h (default telemetry.NewHTTPClient(), over
// OpenTelemetry's global providers).
func WithClientTelemetry(h *telemetry.HTTPClient) ClientOption {
	return func(c *clientConfig) { c.telemetry, c.telemetrySet = h, true }
}

// WithoutClientTelemetry records no spans or metrics and propagates no trace context.
func WithoutClientTelemetry() ClientOption { return func(c *clientConfig) { c.noTelemetry = true } }

// WithClientLogger sets where the client logs skipped instances and watch errors; the
// default is slog.Default().
func WithClientLogger(l *slog.Logger) ClientOption { return func(c *clientConfig) { c.log = l } }

// WithRules applies the governance rules of store to every service: instance overrides
// (weights, instances out of traffic) and routes (a tag or a header sending requests to a
// subset; see rules.Compile) change which instance a request goes to from the moment they
// change, over the connections the client has. Each request also gets the policy of its
// route (rules.HTTPPolicyFor: "GET /orders/{id}", then "*"), read per request:
//
//   - the timeout, as a deadline on the request's context when the caller's is later or
//     absent, held until the response body is read or closed (a request carrying an
//     Upgrade header is left alone: its connection lives on in the response); a request it
//     cuts fails with an error wrapping context.DeadlineExceeded;
//   - the retries: the rule's attempts replace the client's (WithRetry, WithoutRetry) for
//     the route, still only for idempotent requests (see Transport), with the client's
//     backoff (retry.DefaultPolicy's under WithoutRetry), drawing on a budget per rule of
//     the rule's share of requests (10% when unset; 10 retries saved up), started again
//     when the share changes. Routes without a retries rule keep the client's.
//   - the breaker: the requests of a route whose rule has one ask a circuit
//     (breaker.Circuit) of the rule's thresholds, one per rule, in place of the service's
//     breaker (even under WithoutBreaker); a refused request fails with an error wrapping
//     breaker.ErrOpen and naming the service and the rule. New thresholds start a closed
//     circuit.
//
// Instances are ejected by the outlier rule of the service's "*" policy (ejection is per
// instance, not per route), read when a request fails at the transport, in place of
// WithPickOptions(pick.WithEjection(...)).
func WithRules(store *rules.Store) ClientOption {
	return func(c *clientConfig) { c.rules, c.rulesSet = store, true }
}

func (c *clientConfig) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidClientOption}, args...)...))
}

// check fills the defaults and returns the first problem found.
func (c *clientConfig) check() error {
	if c.alg < pick.AlgP2C || c.alg > pick.AlgConsistentHash {
		c.fail("WithBalancer: unknown algorithm %v", c.alg)
	}
	if c.hashSet && c.alg != pick.AlgConsistentHash {
		c.fail("WithHashHeader or WithHashKey with the %v balancer; they need pick.AlgConsistentHash", c.alg)
	}
	if c.hashSet && c.hashKey == nil && c.hashHeader == "" {
		c.fail("WithHashHeader with an empty name or WithHashKey with a nil function")
	}
	if c.tagKey == "" {
		c.tagKey = DefaultTagKey
	}
	if c.hashHeader == "" {
		c.hashHeader = HashKeyHeader
	}
	c.hashHeader = http.CanonicalHeaderKey(c.hashHeader)
	if c.breakersSet && c.breakers == nil {
		c.fail("WithBreakers(nil); use WithoutBreaker to send without one")
	}
	if c.noRetry && (c.policySet || c.budgetSet) {
		c.fail("WithoutRetry with WithRetry or WithRetryBudget; give one")
	}
	if c.budgetSet && c.budget == nil {
		c.fail("WithRetryBudget(nil); use WithoutRetry to send each request once")
	}
	if !c.noRetry {
		if !c.policySet {
			c.policy = retry.DefaultPolicy()
		}
		if err := checkPolicy(c.policy); err != nil {
			c.fail("WithRetry: %v", err)
		}
		if c.budget == nil {
			c.budget = retry.DefaultBudget()
		}
	}
	if c.retryStatuses == nil {
		c.retryStatuses = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	for _, s := range c.retryStatuses {
		if s < 100 || s > 599 {
			c.fail("WithRetryStatuses: %d is not an HTTP status code (100-599)", s)
		}
	}
	for _, s := range c.services {
		if err := registry.ValidateName("service", s); err != nil {
			c.fail("WithServices: %v", err)
		}
	}
	if c.matcherSet && c.matcher == nil {
		c.fail("WithServiceMatcher(nil)")
	}
	if c.matcher != nil && len(c.services) > 0 {
		c.fail("both WithServices and WithServiceMatcher; give one")
	}
	if c.fallbackSet && c.fallback == nil {
		c.fail("WithFallback(nil)")
	}
	if c.fallback == nil {
		c.fallback = http.DefaultTransport
	}
	if c.templateSet && c.template == nil {
		c.fail("WithInstanceTransport(nil)")
	}
	if c.template == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 100
		c.template = t
	}
	if c.telemetrySet && c.telemetry == nil {
		c.fail("WithClientTelemetry(nil); use WithoutClientTelemetry to record nothing")
	}
	if c.noTelemetry {
		c.telemetry = nil
	} else if c.telemetry == nil {
		c.telemetry = telemetry.NewHTTPClient()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.rulesSet && c.rules == nil {
		c.fail("WithRules(nil); pass the store of rules.NewStore or rules.Watch")
	}
	return errors.Join(c.errs...)
}

// checkPolicy checks the fields of a retry policy the HTTP client reads.
func checkPolicy(p retry.Policy) error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("MaxAttempts is %d, want at least 1", p.MaxAttempts)
	case p.MaxAttempts == 1:
		return nil
	case p.InitialBackoff <= 0 || p.MaxBackoff < p.InitialBackoff:
		return fmt.Errorf("backoff from %v to %v, want 0 < initial <= max", p.InitialBackoff, p.MaxBackoff)
	case !(p.Multiplier >= 1):
		return fmt.Errorf("Multiplier is %v, want at least 1", p.Multiplier)
	case !(p.Jitter >= 0 && p.Jitter <= 1):
		return fmt.Errorf("Jitter is %v, want 0 to 1", p.Jitter)
	case p.PerAttemptTimeout < 0:
		return fmt.Errorf("PerAttemptTimeout is %v", p.PerAttemptTimeout)
	}
	return nil
}

// DefaultServiceMatcher is the rule that says which hosts are services when neither
// WithServices nor WithServiceMatcher is given: a host with no port and no dot that is
// not "localhost", not an IP address and not all digits, and is a valid service name
// (registry.ValidateName): http://orders/ is the service orders, while http://orders:8080/,
// http://orders.internal/, http://localhost/ and http://127.0.0.1/ are plain hosts. A
// service host never reaches DNS: with no instance, its requests fail with ErrNoInstances.
func DefaultServiceMatcher(host string) bool {
	if host == "" || host == "localhost" || strings.ContainsAny(host, ".:[]") {
		return false
	}
	if strings.Trim(host, "0123456789") == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	return registry.ValidateName("service", host) == nil
}

// Client is an *http.Client whose transport is a discovery-aware Transport: its Get, Post
// and Do reach services by name and other hosts as usual. Hand Client.Client to code that
// takes an *http.Client. Close stops the watches; in a tianshu.App, pass the Client to
// tianshu.WithCloser so that it closes after the servers that use it have drained.
type Client struct {
	*http.Client
	transport *Transport
}

// NewClient returns a Client over a Transport made by NewTransport with d and opts. The
// *http.Client has no timeout of its own: bound requests with their context.
func NewClient(d registry.Discovery, opts ...ClientOption) (*Client, error) {
	t, err := NewTransport(d, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{Client: &http.Client{Transport: t}, transport: t}, nil
}

// RoundTripper returns the client's Transport.
func (c *Client) RoundTripper() *Transport { return c.transport }

// Close stops the client's watches and closes its idle connections; see Transport.Close.
func (c *Client) Close() error { return c.transport.Close() }

// allowRetryKey marks a context whose requests may be retried whatever their method.
type allowRetryKey struct{}

// AllowRetry returns a context whose requests the client may retry even when their method
// is not idempotent (a POST the server deduplicates by other means). Give the request an
// Idempotency-Key header instead when the server honours one.
func AllowRetry(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowRetryKey{}, true)
}

// defaultDialTimeout bounds connecting to an instance when the instance transport has no
// dialer of its own, as http.DefaultTransport's dialer does.
const defaultDialTimeout = 30 * time.Second
