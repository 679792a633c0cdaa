package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// RouteState is a route as the admin API shows it: its document with secrets redacted.
type RouteState struct {
	Index int   `json:"index"`
	Route Route `json:"route"`
}

// UpstreamState is one upstream: a target under one retry and breaker policy, shared by
// the routes naming it.
type UpstreamState struct {
	Key       string          `json:"key"`
	Service   string          `json:"service,omitempty"`
	URLs      []string        `json:"urls,omitempty"`
	Instances []InstanceState `json:"instances"`
	Breakers  []BreakerState  `json:"breakers"`
	// Retired is true once no route uses the upstream; it closes after the drain time.
	Retired bool   `json:"retired"`
	Error   string `json:"error,omitempty"`
}

// InstanceState is one instance of an upstream.
type InstanceState struct {
	ID        string              `json:"id"`
	Endpoints []registry.Endpoint `json:"endpoints"`
	Weight    int                 `json:"weight"`
	Version   string              `json:"version,omitempty"`
}

// BreakerState is one breaker of an upstream.
type BreakerState struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	Rejected uint64 `json:"rejected"`
}

const redacted = "[redacted]"

// Routes returns the routes in force, secrets redacted, and their generation.
func (g *Gateway) Routes() (gen uint64, routes []RouteState) {
	t := g.table.Load()
	if t.cfg == nil {
		return t.gen, []RouteState{}
	}
	routes = make([]RouteState, 0, len(t.cfg.Routes))
	for i, r := range t.cfg.Routes {
		if a := r.Auth; a != nil {
			c := *a
			if c.JWT != nil {
				j := *c.JWT
				j.Secret = redacted
				c.JWT = &j
			}
			if len(c.APIKeys) > 0 {
				c.APIKeys = map[string]string{redacted: redacted}
			}
			r.Auth = &c
		}
		routes = append(routes, RouteState{Index: i, Route: r})
	}
	return t.gen, routes
}

// Upstreams returns the upstreams with their instances and breakers.
func (g *Gateway) Upstreams(ctx context.Context) []UpstreamState {
	return g.pool.snapshot(ctx)
}

// AdminHandler returns the read-only admin API, to serve on a listener of its own (never
// the public one):
//
//	GET /routes     {"generation": n, "routes": [...]} (secrets redacted)
//	GET /upstreams  [{"key", "service" or "urls", "instances", "breakers", "retired"}]
//
// Other paths answer 404 and other methods 405, with the JSON error body.
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /routes", func(w http.ResponseWriter, _ *http.Request) {
		gen, routes := g.Routes()
		writeJSON(w, map[string]any{"generation": gen, "routes": routes})
	})
	mux.HandleFunc("GET /upstreams", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		writeJSON(w, g.Upstreams(ctx))
	})
	return httperr.Mux(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
