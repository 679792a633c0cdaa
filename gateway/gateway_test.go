package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestRoutesRewriteAndHeaders(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: api
      match: {path: {prefix: /api/orders}}
      target: {urls: [%q]}
      rewrite: {prefix: /orders}
      headers: {add: {X-From: gateway}, remove: [Cookie]}
    - name: items
      match: {path: {template: "/items/{id}/parts/{rest...}"}, methods: [GET]}
      target: {urls: [%q]}
      rewrite: {path: "/v2/{id}/{rest}"}
`, a.srv.URL, b.srv.URL))
	got := do(t, nil, "GET", base+"/api/orders/42?x=1", map[string]string{"Cookie": "s=1", "Host": "shop.example"}, "")
	if got.status != 200 || got.seen.Name != "a" || got.seen.Path != "/orders/42" || got.seen.Query != "x=1" {
		t.Fatalf("api: %+v", got)
	}
	if got.seen.Header.Get("X-From") != "gateway" || got.seen.Header.Get("Cookie") != "" {
		t.Errorf("headers upstream: %v", got.seen.Header)
	}
	if got.seen.Host != "shop.example" || got.seen.Header.Get("X-Forwarded-Host") != "shop.example" || got.seen.Header.Get("X-Forwarded-For") == "" {
		t.Errorf("a URL target keeps the Host and gets X-Forwarded-*: host %q, %v", got.seen.Host, got.seen.Header)
	}
	got = do(t, nil, "GET", base+"/items/7/parts/x/y", nil, "")
	if got.status != 200 || got.seen.Name != "b" || got.seen.Path != "/v2/7/x/y" {
		t.Fatalf("items: %+v", got)
	}
	got = do(t, nil, "POST", base+"/items/7/parts/x", nil, "")
	if got.status != 404 || got.err.Code != "NOT_FOUND" || got.err.Details == nil {
		t.Fatalf("a POST to a GET route: %d %q, want 404 and the JSON error body", got.status, got.body)
	}
	if got := do(t, nil, "GET", base+"/nothing", nil, ""); got.status != 404 || got.err.Code != "NOT_FOUND" || !strings.Contains(got.err.Message, "/nothing") {
		t.Fatalf("no route: %d %q", got.status, got.body)
	}
}

func TestCanarySplitIsTenPercentWithinOnePoint(t *testing.T) {
	stable, canary := startEcho(t, "stable"), startEcho(t, "canary")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: shop
      match: {path: {prefix: /}}
      target: {urls: [%q]}
      canary:
        target: {urls: [%q]}
        weight: 10
        header: {name: X-Canary, value: "1"}
        cookie: {name: canary, value: "yes"}
`, stable.srv.URL, canary.srv.URL))
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer c.CloseIdleConnections()
	const n = 10000
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest("GET", base+"/p", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = resp.Body.Read(make([]byte, 1))
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	share := float64(canary.hits.Load()) / n * 100
	t.Logf("canary got %.2f%% of %d requests (stable %d)", share, n, stable.hits.Load())
	if share < 9 || share > 11 {
		t.Fatalf("canary share %.2f%%, want 10 ± 1", share)
	}
	before := canary.hits.Load()
	if got := do(t, nil, "GET", base+"/p", map[string]string{"X-Canary": "1"}, ""); got.seen.Name != "canary" {
		t.Errorf("the canary header went to %q", got.seen.Name)
	}
	if got := do(t, nil, "GET", base+"/p", map[string]string{"Cookie": "canary=yes"}, ""); got.seen.Name != "canary" {
		t.Errorf("the canary cookie went to %q", got.seen.Name)
	}
	if canary.hits.Load() != before+2 {
		t.Errorf("canary hits %d, want %d", canary.hits.Load(), before+2)
	}
}

const secret = "0123456789abcdef0123456789abcdef"

func token(t testing.TB, key string, exp time.Duration) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(exp).Unix()}).SignedString([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthJWTAndAPIKeys(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: private
      match: {path: {prefix: /}}
      target: {urls: [%q]}
      auth:
        jwt: {secret: %s}
        apiKeys: {key-0123456789abcdef: ci}
`, up.srv.URL, secret))
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no credentials", nil, 401},
		{"a good token", map[string]string{"Authorization": "Bearer " + token(t, secret, time.Minute)}, 200},
		{"an expired token", map[string]string{"Authorization": "Bearer " + token(t, secret, -time.Minute)}, 401},
		{"a token signed with another key", map[string]string{"Authorization": "Bearer " + token(t, strings.Repeat("x", 32), time.Minute)}, 401},
		{"another scheme", map[string]string{"Authorization": "Basic YTpi"}, 401},
		{"a good API key", map[string]string{"X-API-Key": "key-0123456789abcdef"}, 200},
		{"a wrong API key", map[string]string{"X-API-Key": "key-0123456789abcdeX"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := up.hits.Load()
			got := do(t, nil, "GET", base+"/x", tc.hdr, "")
			if got.status != tc.want {
				t.Fatalf("got %d %q, want %d", got.status, got.body, tc.want)
			}
			if tc.want == 401 {
				if got.err.Code != "UNAUTHENTICATED" || got.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without the JSON body or WWW-Authenticate: %q %v", got.body, got.header)
				}
				if up.hits.Load() != before {
					t.Errorf("a refused request reached the upstream")
				}
				if tok := tc.hdr["Authorization"]; len(tok) > 40 && strings.Contains(got.body, strings.TrimPrefix(tok, "Bearer ")[:20]) {
					t.Errorf("the answer quotes the token: %q", got.body)
				}
			}
		})
	}
}

func TestRateLimits(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: limited
      match: {path: {prefix: /route}}
      target: {urls: [%q]}
      rateLimit: {rate: 0.001, burst: 3}
    - name: consumers
      match: {path: {prefix: /consumer}}
      target: {urls: [%q]}
      rateLimit: {rate: 1000, burst: 1000, perConsumer: {header: X-Tenant, rate: 0.001, burst: 2}}
`, up.srv.URL, up.srv.URL))
	codes := func(path string, hdr map[string]string, n int) string {
		var out []string
		for i := 0; i < n; i++ {
			got := do(t, nil, "GET", base+path, hdr, "")
			if got.status == 429 && got.err.Code != "RESOURCE_EXHAUSTED" {
				t.Errorf("429 with body %q", got.body)
			}
			out = append(out, fmt.Sprint(got.status))
		}
		return strings.Join(out, " ")
	}
	if got := codes("/route", nil, 5); got != "200 200 200 429 429" {
		t.Errorf("route bucket of 3: %s", got)
	}
	if got := codes("/consumer", map[string]string{"X-Tenant": "a"}, 3); got != "200 200 429" {
		t.Errorf("tenant a, bucket of 2: %s", got)
	}
	if got := codes("/consumer", map[string]string{"X-Tenant": "b"}, 3); got != "200 200 429" {
		t.Errorf("tenant b has its own bucket: %s", got)
	}
}

func TestCORS(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: web
      match: {path: {prefix: /}}
      target: {urls: [%q]}
      cors: {origins: ["https://shop.example.com"], methods: [GET, POST], headers: [Content-Type], maxAge: 10m}
      maxBodyBytes: 10
`, up.srv.URL))
	pre := map[string]string{"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST"}
	got := do(t, nil, "OPTIONS", base+"/x", pre, "")
	if got.status != 204 || got.header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" ||
		got.header.Get("Access-Control-Allow-Methods") != "GET, POST" || got.header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight: %d %v", got.status, got.header)
	}
	pre["Origin"] = "https://evil.example.com"
	if got := do(t, nil, "OPTIONS", base+"/x", pre, ""); got.status != 403 || got.err.Code != "PERMISSION_DENIED" {
		t.Errorf("preflight from another origin: %d %q", got.status, got.body)
	}
	if up.hits.Load() != 0 {
		t.Errorf("preflights reached the upstream %d times", up.hits.Load())
	}
	got = do(t, nil, "GET", base+"/x", map[string]string{"Origin": "https://shop.example.com"}, "")
	if got.status != 200 || got.header.Values("Access-Control-Allow-Origin")[0] != "https://shop.example.com" || len(got.header.Values("Access-Control-Allow-Origin")) != 1 {
		t.Errorf("a simple request: %d %v", got.status, got.header)
	}
	got = do(t, nil, "POST", base+"/x", map[string]string{"Origin": "https://shop.example.com"}, strings.Repeat("x", 100))
	if got.status != 413 || got.header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
		t.Errorf("the gateway's own refusal of an allowed origin's request: %d %v, want 413 readable by the page", got.status, got.header)
	}
}

func TestBodyLimitTimeoutAndUpstreamErrors(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: small
      match: {path: {prefix: /small}}
      target: {urls: [%q]}
      maxBodyBytes: 10
    - name: slow
      match: {path: {prefix: /slow}}
      target: {urls: [%q]}
      timeout: 100ms
    - name: down
      match: {path: {prefix: /down}}
      target: {urls: ["http://127.0.0.1:1"]}
`, up.srv.URL, up.srv.URL))
	if got := do(t, nil, "POST", base+"/small", nil, "0123456789"); got.status != 200 || got.seen.Body != "0123456789" {
		t.Errorf("a body at the limit: %d %q", got.status, got.body)
	}
	if got := do(t, nil, "POST", base+"/small", nil, "0123456789X"); got.status != 413 || got.err.Code != "RESOURCE_EXHAUSTED" {
		t.Errorf("a body over the limit: %d %q", got.status, got.body)
	}
	// A chunked body over the limit is cut while it streams.
	req, _ := http.NewRequest("POST", base+"/small", strings.NewReader(strings.Repeat("x", 100)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("a chunked body over the limit: %d", resp.StatusCode)
	}
	if got := do(t, nil, "GET", base+"/slow", map[string]string{"X-Sleep": "5s"}, ""); got.status != 504 || got.err.Code != "DEADLINE_EXCEEDED" {
		t.Errorf("past the route's timeout: %d %q", got.status, got.body)
	}
	if got := do(t, nil, "GET", base+"/down", nil, ""); (got.status != 502 && got.status != 503) || got.err.Code != "UNAVAILABLE" {
		t.Errorf("upstream down: %d %q", got.status, got.body)
	}
}

// TestAnAcceptedTokenIsRefusedOnceItExpires: the route remembers the tokens it accepted
// (auth.Cache), but no longer than the token's own expiry.
func TestAnAcceptedTokenIsRefusedOnceItExpires(t *testing.T) {
	up := startEcho(t, "up")
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: private
      match: {path: {prefix: /}}
      target: {urls: [%q]}
      auth: {jwt: {secret: %s}}
`, up.srv.URL, secret))
	// exp has a resolution of a second: the token ends within 1-2 s.
	hdr := map[string]string{"Authorization": "Bearer " + token(t, secret, 2*time.Second)}
	for range 3 {
		if got := do(t, nil, "GET", base+"/x", hdr, ""); got.status != 200 {
			t.Fatalf("a fresh token: %d %q", got.status, got.body)
		}
	}
	time.Sleep(2500 * time.Millisecond)
	if got := do(t, nil, "GET", base+"/x", hdr, ""); got.status != 401 {
		t.Errorf("the token after its expiry: %d %q, want 401", got.status, got.body)
	}
}
