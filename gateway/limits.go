package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tianshu-go/tianshu/breaker/ratelimit"
)

// consumerIdle is how long a consumer's bucket is kept unused before it may be forgotten
// to make room: by then it has refilled, so forgetting it changes nothing.
const consumerIdle = time.Minute

// consumerLimits holds one token bucket per consumer key.
type consumerLimits struct {
	header   string
	rate     float64
	burst    int
	max      int
	mu       sync.Mutex
	m        map[string]*consumer
	overflow *ratelimit.TokenBucket
	now      func() time.Time
}

type consumer struct {
	b    *ratelimit.TokenBucket
	last time.Time
}

func newConsumerLimits(c *ConsumerLimit) (*consumerLimits, error) {
	over, err := ratelimit.NewTokenBucket(c.Rate, c.Burst)
	if err != nil {
		return nil, err
	}
	l := &consumerLimits{header: http.CanonicalHeaderKey(c.Header), rate: c.Rate, burst: c.Burst,
		max: c.MaxKeys, m: map[string]*consumer{}, overflow: over, now: time.Now}
	if l.max == 0 {
		l.max = DefaultConsumerKeys
	}
	return l, nil
}

// allow takes a token from key's bucket. Requests without a key share the key "".
func (l *consumerLimits) allow(key string) bool {
	now := l.now()
	l.mu.Lock()
	c := l.m[key]
	if c == nil {
		if len(l.m) >= l.max {
			l.sweep(now)
		}
		if len(l.m) >= l.max {
			l.mu.Unlock()
			_, ok := l.overflow.Allow()
			return ok
		}
		b, _ := ratelimit.NewTokenBucket(l.rate, l.burst) // checked by newConsumerLimits
		c = &consumer{b: b}
		l.m[key] = c
	}
	c.last = now
	l.mu.Unlock()
	_, ok := c.b.Allow()
	return ok
}

func (l *consumerLimits) sweep(now time.Time) {
	for k, c := range l.m {
		if now.Sub(c.last) > consumerIdle {
			delete(l.m, k)
		}
	}
}

// corsPolicy is a compiled CORS section.
type corsPolicy struct {
	any     bool
	origins map[string]bool
	methods string
	headers string
	creds   bool
	maxAge  string
}

func newCORS(c *CORS) *corsPolicy {
	p := &corsPolicy{origins: map[string]bool{}, creds: c.Credentials,
		methods: strings.Join(c.Methods, ", "), headers: strings.Join(c.Headers, ", ")}
	for _, o := range c.Origins {
		if o == "*" {
			p.any = true
		}
		p.origins[o] = true
	}
	if p.methods == "" {
		p.methods = "GET, HEAD, POST"
	}
	if c.MaxAge > 0 {
		p.maxAge = strconv.Itoa(int(c.MaxAge / time.Second))
	}
	return p
}

func (p *corsPolicy) allowed(origin string) bool {
	return origin != "" && (p.any || p.origins[origin])
}

// mark sets the response headers of an answer to origin.
func (p *corsPolicy) mark(h http.Header, origin string) {
	if !p.allowed(origin) {
		return
	}
	if p.any && !p.creds {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if p.creds {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight answers a CORS preflight request and reports whether it did: 204 with the
// policy for an allowed origin, 403 otherwise. Preflights never reach the upstream.
func (p *corsPolicy) preflight(w *respWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	origin := r.Header.Get("Origin")
	if !p.allowed(origin) {
		w.gw.answer(w, r, http.StatusForbidden, codes.PermissionDenied, "origin "+strconv.Quote(origin)+" is not allowed")
		return true
	}
	h := w.Header()
	p.mark(h, origin)
	h.Set("Access-Control-Allow-Methods", p.methods)
	if p.headers != "" {
		h.Set("Access-Control-Allow-Headers", p.headers)
	} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	if p.maxAge != "" {
		h.Set("Access-Control-Max-Age", p.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// respLimitLogEvery is how often a route's cut responses are logged at most: the first cut
// is logged at once, the next ones with their count a minute after the last record.
const respLimitLogEvery = time.Minute

// responseLimit enforces a route's MaxResponseBytes on the answers of its upstream.
type responseLimit struct {
	route  string
	max    int64
	log    *slog.Logger
	logged atomic.Int64 // when the last record was written, in Unix nanoseconds
	cuts   atomic.Int64 // responses cut since
}

func newResponseLimit(route string, max int64, log *slog.Logger) *responseLimit {
	return &responseLimit{route: route, max: max, log: log}
}

// responseTooLarge is the error a response is refused or cut with.
type responseTooLarge struct {
	route       string
	size, limit int64 // size is -1 for a response cut while streaming
}

func (e *responseTooLarge) Error() string {
	if e.size < 0 {
		return fmt.Sprintf("route %s: upstream's response grew past the route's limit of %d bytes", e.route, e.limit)
	}
	return fmt.Sprintf("route %s: upstream's response of %d bytes is over the route's limit of %d", e.route, e.size, e.limit)
}

// check refuses resp when its Content-Length is over the limit, before anything has been
// sent to the client, and otherwise counts its body as the proxy copies it. A 101 answer
// is exempt: its body is the upgraded connection, a stream of another protocol. So is the
// answer to HEAD, which has no body whatever its Content-Length says.
func (l *responseLimit) check(resp *http.Response) error {
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Request.Method == http.MethodHead ||
		resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	if resp.ContentLength > l.max {
		return &responseTooLarge{route: l.route, size: resp.ContentLength, limit: l.max}
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.max, l: l}
	return nil
}

// limitedBody passes on at most its limit of a response body. Reading past the limit
// fails, and httputil.ReverseProxy answers a body that fails to read by aborting the
// handler (http.ErrAbortHandler): the server closes an HTTP/1 connection, so the client
// sees a body cut short, never a complete-looking one, and resets an HTTP/2 stream.
type limitedBody struct {
	io.ReadCloser
	left int64
	l    *responseLimit
	err  error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		n, b.err = int(b.left), &responseTooLarge{route: b.l.route, size: -1, limit: b.l.max}
		b.left = 0
		b.l.cut(b.err)
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}

// cut logs a cut response, at most once per respLimitLogEvery, with the count since the
// last record. The count is per route set: a change of routes starts it afresh.
func (l *responseLimit) cut(err error) {
	l.cuts.Add(1)
	now := time.Now().UnixNano()
	last := l.logged.Load()
	if last != 0 && now-last < int64(respLimitLogEvery) || !l.logged.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("gateway: responses cut at the route's limit", slog.String("route", l.route),
		slog.Int64("limit", l.max), slog.Int64("cut", l.cuts.Swap(0)), slog.Any("err", err))
}
