package gateway

import (
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// Key is the config key the gateway's document lives under, so that the routes can share a
// config source (a file, an etcd prefix, a Nacos dataId) with other settings.
const Key = "gateway"

// Limits of the document, and defaults.
const (
	// jwtCacheTTL and jwtCacheSize bound the tokens a JWT route remembers (see JWT).
	jwtCacheTTL  = 10 * time.Minute
	jwtCacheSize = 10000
	// DefaultMaxBodyBytes is the largest request body a route forwards when it sets none.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultConsumerKeys caps how many consumer keys a route's per-consumer limit tracks;
	// see RateLimit.
	DefaultConsumerKeys = 10000
	// DefaultAPIKeyHeader carries an API key when Auth.APIKeyHeader is empty.
	DefaultAPIKeyHeader = "X-API-Key"
)

var (
	// ErrInvalid is wrapped by every error about a gateway document: each names its place
	// ("routes[3].match.path: ...").
	ErrInvalid = errors.New("gateway: invalid routes")
	// ErrOption is wrapped by the errors of New and Watch given an option that cannot work.
	ErrOption = errors.New("gateway: bad option")
)

// Config is the gateway's document, under Key:
//
//	gateway:
//	  routes:
//	    - name: orders
//	      match: {host: api.example.com, path: {prefix: /orders}, methods: [GET, POST]}
//	      target: {service: orders}
type Config struct {
	// Routes are matched as Route documents; see Table.Match for the order.
	Routes []Route `json:"routes" config:"routes"`
}

// Route sends the requests its Match accepts to its Target, through its middleware.
type Route struct {
	// Name identifies the route in logs, metrics, spans and the admin API; unique.
	Name  string `json:"name" config:"name"`
	Match Match  `json:"match" config:"match"`
	// Target is where requests go; Canary may take a share of them elsewhere.
	Target Target  `json:"target" config:"target"`
	Canary *Canary `json:"canary" config:"canary"`
	// Rewrite changes the path sent upstream.
	Rewrite *Rewrite `json:"rewrite" config:"rewrite"`
	// Headers adds and removes request headers sent upstream.
	Headers *HeaderChange `json:"headers" config:"headers"`
	// Timeout bounds the whole exchange with the upstream, retries included, and the life of
	// an upgraded connection (WebSocket) too; zero is none.
	Timeout time.Duration `json:"timeout" config:"timeout"`
	// Retries resends idempotent requests under a budget; nil sends each request once.
	Retries *Retries `json:"retries" config:"retries"`
	// Breaker guards the route's upstream with a circuit; nil uses rest's adaptive one.
	Breaker   *Breaker   `json:"breaker" config:"breaker"`
	RateLimit *RateLimit `json:"rateLimit" config:"rateLimit"`
	Auth      *Auth      `json:"auth" config:"auth"`
	CORS      *CORS      `json:"cors" config:"cors"`
	// MaxBodyBytes caps the request body (DefaultMaxBodyBytes when 0; -1 for no cap).
	MaxBodyBytes int64 `json:"maxBodyBytes" config:"maxBodyBytes"`
	// MaxResponseBytes caps the response body (0, the default, for no cap): an answer whose
	// Content-Length is over it gets 502 instead, and one that grows past it while
	// streaming is cut (see Gateway). Not for gRPC targets, whose messages gRPC's own
	// size limits bound; an upgraded connection (WebSocket) is not counted.
	MaxResponseBytes int64 `json:"maxResponseBytes" config:"maxResponseBytes"`
}

// Match accepts a request: every field set must hold.
type Match struct {
	// Host is the request's host without port, exact, or "*.example.com" for any
	// subdomain; empty for any host.
	Host string    `json:"host" config:"host"`
	Path PathMatch `json:"path" config:"path"`
	// Methods lists the methods accepted; empty for any.
	Methods []string `json:"methods" config:"methods"`
	// Headers and Query map a name to the value wanted; "*" accepts any value present.
	Headers map[string]string `json:"headers" config:"headers"`
	Query   map[string]string `json:"query" config:"query"`
}

// PathMatch matches the cleaned request path in one of three ways; set exactly one.
type PathMatch struct {
	// Exact matches the path alone.
	Exact string `json:"exact" config:"exact"`
	// Prefix matches the path and every path below it by whole segments: "/orders"
	// matches /orders and /orders/42, not /ordersx.
	Prefix string `json:"prefix" config:"prefix"`
	// Template matches segment by segment: "{name}" takes one segment, a last
	// "{name...}" the rest of the path; the values are Rewrite's variables.
	Template string `json:"template" config:"template"`
}

// Target is an upstream: a service of the registry or fixed URLs; set one.
type Target struct {
	// Service is the registry's service name, balanced by rest's client.
	Service string `json:"service" config:"service"`
	// URLs are fixed upstreams ("http://10.0.0.5:8080"), balanced the same way.
	URLs []string `json:"urls" config:"urls"`
	// Protocol is "http" (the default) or "grpc": gRPC requests pass through over HTTP/2
	// without TLS (h2c) to the service's grpc endpoints or the URLs, trailers intact.
	Protocol string `json:"protocol" config:"protocol"`
	// HealthCheck probes URLs and takes those failing out of the balance; for URLs only
	// (a registry's instances are checked by the registry).
	HealthCheck *HealthCheck `json:"healthCheck" config:"healthCheck"`

	// Transcode serves the service's gRPC methods as REST/JSON by their google.api.http
	// rules, instead of passing requests through; see Transcode (transcode.go).
	Transcode *Transcode `json:"transcode" config:"transcode"`
	// TLS configures TLS to the target, and mutual TLS with a client certificate; with it a
	// service target's requests go to its https endpoints (grpcs with protocol grpc, over
	// HTTP/2 by ALPN; for a transcoding target, its gRPC connection's). Without it https
	// URLs are verified against the system roots.
	TLS *UpstreamTLS `json:"tls" config:"tls"`
}

// UpstreamTLS is the gateway's side of TLS to a target, PEM files read by rpc's TLS
// helpers (see rpc.TLSFiles and rpc.NewClientTLSConfig): CAFile verifies the upstream's
// certificate instead of the system roots; CertFile and KeyFile, given together, are the
// certificate the gateway presents to an upstream that asks for one (mutual TLS), read again
// when they change on disk. ServerName is the name verified in the upstream's certificate:
// by default the URLs' host, or the service's name (as rest's client verifies it). The
// files are read when the route set is applied, which fails (wrapping rpc.ErrInvalidTLS)
// when they cannot be used.
type UpstreamTLS struct {
	CAFile     string `json:"caFile" config:"caFile"`
	CertFile   string `json:"certFile" config:"certFile"`
	KeyFile    string `json:"keyFile" config:"keyFile"`
	ServerName string `json:"serverName" config:"serverName"`
}

// HealthCheck is an active check of a target's URLs: every Interval, a GET of Path on
// each, answered 2xx or 3xx within Timeout, passes. Failures checks failed in a row take a
// URL out of the balance, one passed check puts it back. When every URL fails, all stay in
// (failing open): the balancer's own ejection and the breaker then judge them by traffic.
type HealthCheck struct {
	Path     string        `json:"path" config:"path"`
	Interval time.Duration `json:"interval" config:"interval"`
	Timeout  time.Duration `json:"timeout" config:"timeout"`
	Failures int           `json:"failures" config:"failures"`
}

// Canary sends a share of a route's requests, or those carrying a header or cookie,
// to another target.
type Canary struct {
	Target Target `json:"target" config:"target"`
	// Weight is the percentage (0 to 100) of the other requests sent to the canary.
	Weight int `json:"weight" config:"weight"`
	// Header and Cookie send a request to the canary when it carries them with Value
	// (any value when Value is empty).
	Header *NameValue `json:"header" config:"header"`
	Cookie *NameValue `json:"cookie" config:"cookie"`
}

// NameValue names a header or cookie and the value wanted.
type NameValue struct {
	Name  string `json:"name" config:"name"`
	Value string `json:"value" config:"value"`
}

// Rewrite changes the path sent upstream; set one field.
type Rewrite struct {
	// Prefix replaces the matched prefix of a prefix route ("/api/orders" -> "/orders").
	Prefix *string `json:"prefix" config:"prefix"`
	// Path replaces the whole path; "{name}" is replaced by the template's variable.
	Path string `json:"path" config:"path"`
}

// HeaderChange edits the request headers sent upstream: Remove first, then Add (which
// replaces a header of the same name).
type HeaderChange struct {
	Add    map[string]string `json:"add" config:"add"`
	Remove []string          `json:"remove" config:"remove"`
}

// Retries resends idempotent requests (see rest.Transport: GET, HEAD, OPTIONS, TRACE, PUT,
// DELETE, or any carrying an Idempotency-Key header) that failed at the transport or got
// 502, 503 or 504: Attempts counts the first one; Budget is the share of requests that may
// be retries (0.1 when 0), with 10 retries saved up. A request with a body is streamed to
// the upstream as it arrives, so it cannot be sent again and is never retried.
type Retries struct {
	Attempts int     `json:"attempts" config:"attempts"`
	Budget   float64 `json:"budget" config:"budget"`
}

// Breaker holds the thresholds of a route's circuit (breaker.Circuit).
type Breaker struct {
	FailureRatio float64       `json:"failureRatio" config:"failureRatio"`
	MinRequests  int           `json:"minRequests" config:"minRequests"`
	Window       time.Duration `json:"window" config:"window"`
	SleepWindow  time.Duration `json:"sleepWindow" config:"sleepWindow"`
}

// RateLimit is a token bucket for the route, and optionally one per consumer, keyed by the
// value of a request header (an API key, a tenant). A cluster-wide limit would need a
// shared counter (Redis, or buckets handed out by a coordinator); these are per process.
type RateLimit struct {
	Rate  float64 `json:"rate" config:"rate"`
	Burst int     `json:"burst" config:"burst"`
	// PerConsumer limits each value of its header on its own, after the route's bucket.
	PerConsumer *ConsumerLimit `json:"perConsumer" config:"perConsumer"`
}

// ConsumerLimit is a bucket per consumer. Requests without the header share one bucket.
// At most MaxKeys consumers are tracked (DefaultConsumerKeys when 0); past that, new
// consumers share one overflow bucket until idle ones are forgotten.
type ConsumerLimit struct {
	Header  string  `json:"header" config:"header"`
	Rate    float64 `json:"rate" config:"rate"`
	Burst   int     `json:"burst" config:"burst"`
	MaxKeys int     `json:"maxKeys" config:"maxKeys"`
}

// Auth requires a bearer JWT (HS256/384/512 with Secret) or an API key; a request passes
// with either.
type Auth struct {
	JWT *JWT `json:"jwt" config:"jwt"`
	// APIKeys maps each accepted key to the subject it stands for.
	APIKeys map[string]string `json:"apiKeys" config:"apiKeys"`
	// APIKeyHeader carries the key (DefaultAPIKeyHeader when empty).
	APIKeyHeader string `json:"apiKeyHeader" config:"apiKeyHeader"`
}

// JWT configures rpc/auth's JWT verifier with an HMAC secret (use a ${PLACEHOLDER}). A
// token the route accepted is remembered (as a digest, in an auth.Cache of 10,000 per
// route) until it expires or 10 minutes pass, and not verified again meanwhile.
type JWT struct {
	Secret   string `json:"secret" config:"secret"`
	Issuer   string `json:"issuer" config:"issuer"`
	Audience string `json:"audience" config:"audience"`
}

// CORS answers preflight requests and marks answers to the allowed origins.
type CORS struct {
	// Origins allowed ("https://shop.example.com", or "*").
	Origins     []string      `json:"origins" config:"origins"`
	Methods     []string      `json:"methods" config:"methods"`
	Headers     []string      `json:"headers" config:"headers"`
	Credentials bool          `json:"credentials" config:"credentials"`
	MaxAge      time.Duration `json:"maxAge" config:"maxAge"`
}

// Validate checks the whole document and returns every fault it finds, each naming its
// place ("routes[3].match.path: ..."), joined and wrapped in ErrInvalid.
func (c *Config) Validate() error {
	var errs []error
	fail := func(place, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, place, fmt.Sprintf(format, args...)))
	}
	names := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		at := fmt.Sprintf("routes[%d]", i)
		if r.Name == "" {
			fail(at+".name", "empty: every route needs a name (logs, metrics and the admin API use it)")
		} else if j, dup := names[r.Name]; dup {
			fail(at+".name", "%q is routes[%d]'s name too", r.Name, j)
		} else {
			names[r.Name] = i
		}
		r.validate(at, fail)
	}
	return errors.Join(errs...)
}

type failFunc func(place, format string, args ...any)

func (r *Route) validate(at string, fail failFunc) {
	m := r.Match
	if strings.ContainsAny(m.Host, "/: ") || strings.Contains(m.Host[min(1, len(m.Host)):], "*") {
		fail(at+".match.host", "%q: want a host name without port, or *.domain", m.Host)
	}
	pm, err := compilePath(m.Path)
	if err != nil {
		fail(at+".match.path", "%v", err)
	}
	for j, meth := range m.Methods {
		if meth == "" || strings.ToUpper(meth) != meth || strings.ContainsAny(meth, " /") {
			fail(fmt.Sprintf("%s.match.methods[%d]", at, j), "%q: want an upper-case method such as GET", meth)
		}
	}
	for name := range m.Headers {
		if !validHeaderName(name) {
			fail(at+".match.headers", "%q is not a header name", name)
		}
	}
	for name := range m.Query {
		if name == "" {
			fail(at+".match.query", "an empty parameter name")
		}
	}
	r.Target.validate(at+".target", fail)
	r.validateTranscode(at, fail) // transcode.go
	if c := r.Canary; c != nil {
		c.Target.validate(at+".canary.target", fail)
		if c.Target.Protocol != r.Target.Protocol {
			fail(at+".canary.target.protocol", "%q differs from the target's %q", c.Target.Protocol, r.Target.Protocol)
		}
		if c.Weight < 0 || c.Weight > 100 {
			fail(at+".canary.weight", "%d: want a percentage from 0 to 100", c.Weight)
		}
		if c.Header != nil && !validHeaderName(c.Header.Name) {
			fail(at+".canary.header.name", "%q is not a header name", c.Header.Name)
		}
		if c.Cookie != nil && (c.Cookie.Name == "" || strings.ContainsAny(c.Cookie.Name, "=; ")) {
			fail(at+".canary.cookie.name", "%q is not a cookie name", c.Cookie.Name)
		}
		if c.Weight == 0 && c.Header == nil && c.Cookie == nil {
			fail(at+".canary", "no weight, header or cookie: no request would reach it")
		}
	}
	if rw := r.Rewrite; rw != nil && err == nil {
		switch {
		case rw.Prefix != nil && rw.Path != "":
			fail(at+".rewrite", "both prefix and path: want one")
		case rw.Prefix != nil:
			if m.Path.Prefix == "" {
				fail(at+".rewrite.prefix", "needs a prefix match (match.path.prefix)")
			} else if *rw.Prefix != "" && !strings.HasPrefix(*rw.Prefix, "/") {
				fail(at+".rewrite.prefix", "%q: want a path starting with /, or empty", *rw.Prefix)
			}
		case rw.Path != "":
			if err := pm.checkRewrite(rw.Path); err != nil {
				fail(at+".rewrite.path", "%v", err)
			}
		default:
			fail(at+".rewrite", "neither prefix nor path")
		}
	}
	if h := r.Headers; h != nil {
		for name := range h.Add {
			if !validHeaderName(name) {
				fail(at+".headers.add", "%q is not a header name", name)
			}
		}
		for j, name := range h.Remove {
			if !validHeaderName(name) {
				fail(fmt.Sprintf("%s.headers.remove[%d]", at, j), "%q is not a header name", name)
			}
		}
	}
	if r.Timeout < 0 {
		fail(at+".timeout", "%v: want 0 (none) or more", r.Timeout)
	}
	if rt := r.Retries; rt != nil {
		if rt.Attempts < 1 || rt.Attempts > 10 {
			fail(at+".retries.attempts", "%d: want 1 (no retry) to 10", rt.Attempts)
		}
		if rt.Budget < 0 || rt.Budget > 1 {
			fail(at+".retries.budget", "%v: want a share from 0 to 1", rt.Budget)
		}
	}
	if b := r.Breaker; b != nil {
		if b.FailureRatio <= 0 || b.FailureRatio > 1 {
			fail(at+".breaker.failureRatio", "%v: want more than 0, at most 1", b.FailureRatio)
		}
		if b.MinRequests < 0 || b.Window < 0 || b.SleepWindow < 0 {
			fail(at+".breaker", "minRequests, window and sleepWindow: want 0 or more")
		}
	}
	if l := r.RateLimit; l != nil {
		if l.Rate <= 0 || l.Burst < 1 {
			fail(at+".rateLimit", "rate %v, burst %d: want a rate above 0 and a burst of 1 or more", l.Rate, l.Burst)
		}
		if p := l.PerConsumer; p != nil {
			if !validHeaderName(p.Header) {
				fail(at+".rateLimit.perConsumer.header", "%q is not a header name", p.Header)
			}
			if p.Rate <= 0 || p.Burst < 1 {
				fail(at+".rateLimit.perConsumer", "rate %v, burst %d: want a rate above 0 and a burst of 1 or more", p.Rate, p.Burst)
			}
			if p.MaxKeys < 0 {
				fail(at+".rateLimit.perConsumer.maxKeys", "%d: want 0 (the default) or more", p.MaxKeys)
			}
		}
	}
	if a := r.Auth; a != nil {
		if a.JWT == nil && len(a.APIKeys) == 0 {
			fail(at+".auth", "neither jwt nor apiKeys: no request could pass")
		}
		if a.JWT != nil && len(a.JWT.Secret) < 32 {
			fail(at+".auth.jwt.secret", "%d bytes: want 32 or more (HS256 needs a 256-bit key)", len(a.JWT.Secret))
		}
		for k := range a.APIKeys {
			if len(k) < 16 {
				fail(at+".auth.apiKeys", "a key of %d bytes: want 16 or more", len(k))
			}
		}
		if a.APIKeyHeader != "" && !validHeaderName(a.APIKeyHeader) {
			fail(at+".auth.apiKeyHeader", "%q is not a header name", a.APIKeyHeader)
		}
	}
	if c := r.CORS; c != nil {
		if len(c.Origins) == 0 {
			fail(at+".cors.origins", "empty: want the origins allowed, or \"*\"")
		}
		for j, o := range c.Origins {
			if o == "*" {
				if c.Credentials {
					fail(fmt.Sprintf("%s.cors.origins[%d]", at, j), "\"*\" with credentials: browsers refuse it; list the origins")
				}
				continue
			}
			if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
				fail(fmt.Sprintf("%s.cors.origins[%d]", at, j), "%q: want scheme://host[:port]", o)
			}
		}
		if c.MaxAge < 0 {
			fail(at+".cors.maxAge", "%v: want 0 or more", c.MaxAge)
		}
	}
	if r.MaxBodyBytes < -1 {
		fail(at+".maxBodyBytes", "%d: want -1 (no cap), 0 (the default) or more", r.MaxBodyBytes)
	}
	// The response limit.
	switch {
	case r.MaxResponseBytes < 0:
		fail(at+".maxResponseBytes", "%d: want 0 (no cap) or more", r.MaxResponseBytes)
	case r.MaxResponseBytes > 0 && r.Target.Protocol == protoGRPC:
		fail(at+".maxResponseBytes", "not for gRPC targets: bound messages with gRPC's maximum message size")
	}
}

func (t *Target) validate(at string, fail failFunc) {
	switch t.Protocol {
	case "", protoHTTP, protoGRPC:
	default:
		fail(at+".protocol", "%q: want http or grpc", t.Protocol)
	}
	switch {
	case t.Service != "" && len(t.URLs) > 0:
		fail(at, "both service and urls: want one")
	case t.Service != "":
		if err := registry.ValidateName("service", t.Service); err != nil {
			fail(at+".service", "%v", err)
		}
	case len(t.URLs) > 0:
		for j, raw := range t.URLs {
			if _, err := parseStatic(raw); err != nil {
				fail(fmt.Sprintf("%s.urls[%d]", at, j), "%v", err)
			}
		}
	default:
		fail(at, "neither service nor urls")
	}
	if t.Transcode != nil {
		t.Transcode.validate(at, t, fail) // transcode.go
	}
	t.validateTLS(at, fail)
	if h := t.HealthCheck; h != nil {
		switch {
		case t.Service != "":
			fail(at+".healthCheck", "for urls only: the registry checks a service's instances")
		case !strings.HasPrefix(h.Path, "/"):
			fail(at+".healthCheck.path", "%q: want a path starting with /", h.Path)
		case h.Interval < 100*time.Millisecond:
			fail(at+".healthCheck.interval", "%v: want 100ms or more", h.Interval)
		case h.Timeout <= 0 || h.Timeout > h.Interval:
			fail(at+".healthCheck.timeout", "%v: want more than 0, at most the interval %v", h.Timeout, h.Interval)
		case h.Failures < 0:
			fail(at+".healthCheck.failures", "%d: want 0 (the default, 2) or more", h.Failures)
		}
	}
}

// validateTLS checks the tls section of a target.
func (t *Target) validateTLS(at string, fail failFunc) {
	c := t.TLS
	if c == nil {
		return
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		fail(at+".tls", "certFile %q, keyFile %q: give both (mutual TLS) or neither", c.CertFile, c.KeyFile)
	}
	hosts := map[string]bool{}
	for j, raw := range t.URLs {
		if ep, err := parseStatic(raw); err == nil {
			hosts[ep.Host] = true
			if ep.Scheme != "https" {
				fail(fmt.Sprintf("%s.urls[%d]", at, j), "%q with tls: want an https:// URL", raw)
			}
		}
	}
	if len(hosts) > 1 && c.ServerName == "" {
		fail(at+".tls.serverName", "empty, with urls on %d hosts: name the one their certificates share", len(hosts))
	}
}

const (
	protoHTTP = "http"
	protoGRPC = "grpc"
)

// parseStatic reads a static upstream URL: scheme and host:port only, since the path sent
// is the request's (rewritten).
func parseStatic(raw string) (registry.Endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return registry.Endpoint{}, fmt.Errorf("%q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return registry.Endpoint{}, fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return registry.Endpoint{}, fmt.Errorf("%q: want scheme://host:port alone (use rewrite for the path)", raw)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return registry.Endpoint{}, fmt.Errorf("%q: no host", raw)
	}
	n := 80
	if u.Scheme == "https" {
		n = 443
	}
	if port != "" {
		if n, err = strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return registry.Endpoint{}, fmt.Errorf("%q: port %q: want 1 to 65535", raw, port)
		}
	}
	return registry.Endpoint{Scheme: u.Scheme, Host: host, Port: n}, nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return textproto.CanonicalMIMEHeaderKey(name) != ""
}
