package gateway_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/gateway"
)

const fullDoc = `
gateway:
  routes:
    - name: orders
      match:
        host: api.example.com
        path: {prefix: /api/orders}
        methods: [GET, POST]
        headers: {x-env: prod}
        query: {v: "2"}
      target: {service: orders}
      canary:
        target: {urls: ["http://127.0.0.1:8081"]}
        weight: 10
        header: {name: x-canary, value: "1"}
        cookie: {name: canary}
      rewrite: {prefix: /orders}
      headers: {add: {X-From: gateway}, remove: [Cookie]}
      timeout: 2s
      retries: {attempts: 3, budget: 0.2}
      breaker: {failureRatio: 0.5, minRequests: 20, window: 10s, sleepWindow: 5s}
      rateLimit: {rate: 100, burst: 20, perConsumer: {header: X-API-Key, rate: 10, burst: 5}}
      auth:
        jwt: {secret: 0123456789abcdef0123456789abcdef, issuer: login}
        apiKeys: {key-0123456789abcdef: ci}
      cors: {origins: ["https://shop.example.com"], methods: [GET], maxAge: 10m}
      maxBodyBytes: 1024
    - name: items
      match: {path: {template: "/items/{id}/parts/{rest...}"}}
      target: {urls: ["http://127.0.0.1:8080"], protocol: http}
      rewrite: {path: "/v2/{id}/parts/{rest}"}
`

func TestParseReadsEveryField(t *testing.T) {
	c, err := gateway.Parse([]byte(fullDoc))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 2 {
		t.Fatalf("got %d routes, want 2", len(c.Routes))
	}
	r := c.Routes[0]
	if r.Match.Path.Prefix != "/api/orders" || r.Target.Service != "orders" || r.Canary.Weight != 10 ||
		r.Canary.Cookie.Name != "canary" || *r.Rewrite.Prefix != "/orders" || r.Timeout != 2*time.Second ||
		r.Retries.Attempts != 3 || r.Breaker.SleepWindow != 5*time.Second || r.RateLimit.PerConsumer.Burst != 5 ||
		r.Auth.JWT.Issuer != "login" || r.CORS.MaxAge != 10*time.Minute || r.MaxBodyBytes != 1024 ||
		r.Headers.Add["X-From"] != "gateway" || r.Match.Query["v"] != "2" {
		t.Errorf("route 0 read as %+v", r)
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	for name, doc := range map[string]string{
		"a misspelt route field": "gateway:\n  routes:\n    - name: a\n      match: {path: {exact: /}}\n      target: {service: a}\n      timout: 1s\n",
		"a misspelt section":     "gateway:\n  rutes: []\n",
		"an unknown section":     "gateway:\n  routes: []\n  extras: {a: 1}\n",
		"a misspelt match field": "gateway:\n  routes:\n    - name: a\n      match: {path: {exact: /}, metods: [GET]}\n      target: {service: a}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gateway.Parse([]byte(doc))
			if !errors.Is(err, config.ErrUnknownKey) {
				t.Fatalf("got %v, want an error wrapping config.ErrUnknownKey", err)
			}
		})
	}
}

func TestValidateNamesEachPlace(t *testing.T) {
	for _, tc := range []struct {
		name, route, want string
	}{
		{"no path", `{name: a, match: {}, target: {service: a}}`, "routes[0].match.path: want exactly one of exact, prefix and template"},
		{"two paths", `{name: a, match: {path: {exact: /a, prefix: /b}}, target: {service: a}}`, "routes[0].match.path: want exactly one"},
		{"unclean path", `{name: a, match: {path: {prefix: /a/../b}}, target: {service: a}}`, `routes[0].match.path: prefix "/a/../b": not clean`},
		{"variable in part of a segment", `{name: a, match: {path: {template: "/a/x{id}"}}, target: {service: a}}`, "a variable takes a whole segment"},
		{"rest not last", `{name: a, match: {path: {template: "/a/{r...}/b"}}, target: {service: a}}`, "must be the last segment"},
		{"lower-case method", `{name: a, match: {path: {exact: /}, methods: [get]}, target: {service: a}}`, "routes[0].match.methods[0]"},
		{"no target", `{name: a, match: {path: {exact: /}}, target: {}}`, "routes[0].target: neither service nor urls"},
		{"bad url", `{name: a, match: {path: {exact: /}}, target: {urls: ["ftp://x"]}}`, "routes[0].target.urls[0]"},
		{"url with a path", `{name: a, match: {path: {exact: /}}, target: {urls: ["http://x:1/p"]}}`, "use rewrite for the path"},
		{"bad protocol", `{name: a, match: {path: {exact: /}}, target: {service: a, protocol: ws}}`, "routes[0].target.protocol"},
		{"canary weight", `{name: a, match: {path: {exact: /}}, target: {service: a}, canary: {target: {service: b}, weight: 101}}`, "routes[0].canary.weight: 101"},
		{"canary never reached", `{name: a, match: {path: {exact: /}}, target: {service: a}, canary: {target: {service: b}}}`, "routes[0].canary: no weight, header or cookie"},
		{"rewrite prefix on exact", `{name: a, match: {path: {exact: /a}}, target: {service: a}, rewrite: {prefix: /b}}`, "routes[0].rewrite.prefix: needs a prefix match"},
		{"rewrite unknown variable", `{name: a, match: {path: {template: "/a/{id}"}}, target: {service: a}, rewrite: {path: "/b/{x}"}}`, "routes[0].rewrite.path"},
		{"retries", `{name: a, match: {path: {exact: /}}, target: {service: a}, retries: {attempts: 0}}`, "routes[0].retries.attempts: 0"},
		{"breaker", `{name: a, match: {path: {exact: /}}, target: {service: a}, breaker: {failureRatio: 2}}`, "routes[0].breaker.failureRatio: 2"},
		{"rate", `{name: a, match: {path: {exact: /}}, target: {service: a}, rateLimit: {rate: 0, burst: 1}}`, "routes[0].rateLimit: rate 0"},
		{"consumer header", `{name: a, match: {path: {exact: /}}, target: {service: a}, rateLimit: {rate: 1, burst: 1, perConsumer: {header: "a b", rate: 1, burst: 1}}}`, "routes[0].rateLimit.perConsumer.header"},
		{"short secret", `{name: a, match: {path: {exact: /}}, target: {service: a}, auth: {jwt: {secret: short}}}`, "routes[0].auth.jwt.secret: 5 bytes"},
		{"empty auth", `{name: a, match: {path: {exact: /}}, target: {service: a}, auth: {}}`, "routes[0].auth: neither jwt nor apiKeys"},
		{"cors star with credentials", `{name: a, match: {path: {exact: /}}, target: {service: a}, cors: {origins: ["*"], credentials: true}}`, "routes[0].cors.origins[0]"},
		{"body limit", `{name: a, match: {path: {exact: /}}, target: {service: a}, maxBodyBytes: -2}`, "routes[0].maxBodyBytes: -2"},
		{"health check on a service", `{name: a, match: {path: {exact: /}}, target: {service: a, healthCheck: {path: /h, interval: 1s, timeout: 1s}}}`, "routes[0].target.healthCheck: for urls only"},
		{"health check timeout", `{name: a, match: {path: {exact: /}}, target: {urls: ["http://x:1"], healthCheck: {path: /h, interval: 1s, timeout: 2s}}}`, "routes[0].target.healthCheck.timeout: 2s"},
		{"bad host", `{name: a, match: {host: "a:80", path: {exact: /}}, target: {service: a}}`, "routes[0].match.host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gateway.Parse([]byte("gateway:\n  routes:\n    - " + tc.route + "\n"))
			if !errors.Is(err, gateway.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error wrapping gateway.ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateReportsEveryFault(t *testing.T) {
	doc := "gateway:\n  routes:\n" +
		"    - {name: a, match: {path: {exact: /}}, target: {service: a}}\n" +
		"    - {name: a, match: {path: {exact: /}}, target: {}}\n" +
		"    - {match: {path: {exact: /}}, target: {service: c}, timeout: -1s}\n"
	_, err := gateway.Parse([]byte(doc))
	for _, want := range []string{`routes[1].name: "a" is routes[0]'s name too`, "routes[1].target: neither", "routes[2].name: empty", "routes[2].timeout: -1s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
}
