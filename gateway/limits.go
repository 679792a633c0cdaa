package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
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
