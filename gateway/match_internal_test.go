package gateway

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "/",
		"/":                "/",
		"/a/b":             "/a/b",
		"/a/b/":            "/a/b/",
		"//a///b":          "/a/b",
		"/a/./b":           "/a/b",
		"/a/../b":          "/b",
		"/../../etc":       "/etc",
		"/public/../admin": "/admin",
		"/a/..":            "/",
		"/a/b/..":          "/a/",
		"/a/.":             "/a/",
		"a":                "/a",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPathMatch(t *testing.T) {
	for _, tc := range []struct {
		m    PathMatch
		path string
		ok   bool
		vals []string
	}{
		{PathMatch{Exact: "/a"}, "/a", true, nil},
		{PathMatch{Exact: "/a"}, "/a/", false, nil},
		{PathMatch{Prefix: "/a"}, "/a", true, nil},
		{PathMatch{Prefix: "/a"}, "/a/b/c", true, nil},
		{PathMatch{Prefix: "/a"}, "/ab", false, nil},
		{PathMatch{Prefix: "/a/"}, "/a", true, nil},
		{PathMatch{Prefix: "/"}, "/anything", true, nil},
		{PathMatch{Template: "/o/{id}"}, "/o/42", true, []string{"42"}},
		{PathMatch{Template: "/o/{id}"}, "/o/", false, nil},
		{PathMatch{Template: "/o/{id}"}, "/o", false, nil},
		{PathMatch{Template: "/o/{id}"}, "/o/42/x", false, nil},
		{PathMatch{Template: "/o/{id}/i/{n}"}, "/o/1/i/2", true, []string{"1", "2"}},
		{PathMatch{Template: "/o/{id}/i/{n}"}, "/o/1/j/2", false, nil},
		{PathMatch{Template: "/f/{p...}"}, "/f/a/b/c", true, []string{"a/b/c"}},
		{PathMatch{Template: "/f/{p...}"}, "/f/", true, []string{""}},
		{PathMatch{Template: "/f/{p...}"}, "/f", true, []string{""}},
		{PathMatch{Template: "/f/{p...}"}, "/g/a", false, nil},
		{PathMatch{Template: "/{a}/{b...}"}, "/x/y/z", true, []string{"x", "y/z"}},
		{PathMatch{Template: "/"}, "/", true, nil},
	} {
		pm, err := compilePath(tc.m)
		if err != nil {
			t.Fatalf("%+v: %v", tc.m, err)
		}
		var vals []string
		ok := pm.match(tc.path, &vals)
		if ok != tc.ok || ok && !slices.Equal(vals, tc.vals) || !ok && len(vals) != 0 {
			t.Errorf("%+v on %q: got %v %q, want %v %q", tc.m, tc.path, ok, vals, tc.ok, tc.vals)
		}
	}
}

// testTable compiles routes without upstreams, for matching alone.
func testTable(t testing.TB, routes []Route) *table {
	t.Helper()
	tb := &table{}
	for i := range routes {
		r := &routes[i]
		pm, err := compilePath(r.Match.Path)
		if err != nil {
			t.Fatal(err)
		}
		rt := &route{name: r.Name, index: i, host: r.Match.Host, path: pm, methods: r.Match.Methods}
		for _, k := range sortedKeys(r.Match.Headers) {
			rt.headers = append(rt.headers, kv{http.CanonicalHeaderKey(k), r.Match.Headers[k]})
		}
		for _, k := range sortedKeys(r.Match.Query) {
			rt.query = append(rt.query, kv{k, r.Match.Query[k]})
		}
		tb.routes = append(tb.routes, rt)
	}
	tb.index()
	return tb
}

func matchName(tb *table, method, target, host string, hdr map[string]string) string {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	ri := reqInfo{r: r, path: cleanPath(r.URL.Path)}
	if rt := tb.match(normHost(host), &ri); rt != nil {
		return rt.name
	}
	return ""
}

func TestTableOrder(t *testing.T) {
	tb := testTable(t, []Route{
		{Name: "root", Match: Match{Path: PathMatch{Prefix: "/"}}},
		{Name: "orders", Match: Match{Path: PathMatch{Prefix: "/orders"}}},
		{Name: "order", Match: Match{Path: PathMatch{Template: "/orders/{id}"}}},
		{Name: "order-items", Match: Match{Path: PathMatch{Template: "/orders/{id}/items"}}},
		{Name: "exact", Match: Match{Path: PathMatch{Exact: "/orders/new"}}},
		{Name: "post", Match: Match{Path: PathMatch{Prefix: "/orders"}, Methods: []string{"POST"}}},
		{Name: "host", Match: Match{Host: "api.example.com", Path: PathMatch{Prefix: "/"}}},
		{Name: "wild", Match: Match{Host: "*.example.com", Path: PathMatch{Prefix: "/"}}},
		{Name: "hdr", Match: Match{Path: PathMatch{Prefix: "/h"}, Headers: map[string]string{"x-env": "prod"}}},
		{Name: "hdr-any", Match: Match{Path: PathMatch{Prefix: "/h"}, Headers: map[string]string{"x-env": "*"}}},
		{Name: "query", Match: Match{Path: PathMatch{Prefix: "/q"}, Query: map[string]string{"v": "2"}}},
		{Name: "var-first", Match: Match{Path: PathMatch{Template: "/{tenant}/home"}}},
	})
	for _, tc := range []struct {
		method, target, host string
		hdr                  map[string]string
		want                 string
	}{
		{"GET", "/", "x", nil, "root"},
		{"GET", "/orders", "x", nil, "orders"},
		{"GET", "/orders/42", "x", nil, "order"},
		{"GET", "/orders/42/items", "x", nil, "order-items"},
		{"GET", "/orders/new", "x", nil, "exact"},
		{"GET", "/orders/42/other", "x", nil, "orders"},
		{"GET", "/ordersx", "x", nil, "root"},
		{"GET", "/orders/./42/../new", "x", nil, "exact"},
		{"GET", "/a", "API.example.com:8080", nil, "host"},
		{"GET", "/a", "shop.example.com", nil, "wild"},
		{"GET", "/a", "example.com", nil, "root"},
		{"GET", "/h", "x", map[string]string{"X-Env": "prod"}, "hdr"},
		{"GET", "/h", "x", map[string]string{"X-Env": "dev"}, "hdr-any"},
		{"GET", "/h", "x", nil, "root"},
		{"GET", "/q?v=2", "x", nil, "query"},
		{"GET", "/q?v=3", "x", nil, "root"},
		{"GET", "/acme/home", "x", nil, "var-first"},
		{"GET", "/orders/home", "x", nil, "order"}, // "/orders/{id}" outweighs "/{tenant}/home"
		{"GET", "/shop/home", "x", nil, "var-first"},
	} {
		if got := matchName(tb, tc.method, tc.target, tc.host, tc.hdr); got != tc.want {
			t.Errorf("%s %s (host %s, %v): matched %q, want %q", tc.method, tc.target, tc.host, tc.hdr, got, tc.want)
		}
	}
}

func TestNoRouteEscapesByDotSegments(t *testing.T) {
	tb := testTable(t, []Route{
		{Name: "public", Match: Match{Path: PathMatch{Prefix: "/public"}}},
	})
	for _, p := range []string{"/public/../admin", "/public/%2e%2e/admin", "/public/./../admin"} {
		if got := matchName(tb, "GET", p, "x", nil); got != "" {
			t.Errorf("%s matched %q; a path that leaves /public must match no /public route", p, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("gateway:\n  routes:\n    - {name: a, match: {path: {exact: /}}, target: {urls: [\"http://127.0.0.1:1\"]}}\n"))
	f.Add([]byte("gateway:\n  routes:\n    - {name: a, match: {path: {template: \"/a/{b...}\"}}, target: {service: s}, rewrite: {path: \"/{b}\"}}\n"))
	f.Add([]byte("gateway: {routes: [{name: x, canary: {weight: 10}}]}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses validates again, and its paths compile.
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a document Validate rejects: %v", err)
		}
		for _, r := range c.Routes {
			if _, err := compilePath(r.Match.Path); err != nil {
				t.Fatalf("Parse accepted path %+v: %v", r.Match.Path, err)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("/orders/{id}/items/{rest...}", "/orders/1/items/a/b", "/v/{id}/{rest}")
	f.Add("/{a}", "/x", "/{a}")
	f.Add("/a/b", "/a/b/", "/")
	f.Fuzz(func(t *testing.T, tmpl, path, rewrite string) {
		pm, err := compilePath(PathMatch{Template: tmpl})
		if err != nil {
			return
		}
		p := cleanPath(path)
		if cleanPath(p) != p {
			t.Fatalf("cleanPath is not idempotent: %q -> %q -> %q", path, p, cleanPath(p))
		}
		if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("cleanPath(%q) = %q keeps a .. segment", path, p)
		}
		var vals []string
		if !pm.match(p, &vals) {
			if len(vals) != 0 {
				t.Fatalf("no match but values %q", vals)
			}
			return
		}
		if len(vals) != len(pm.names) {
			t.Fatalf("template %q on %q: %d values for %d variables", tmpl, p, len(vals), len(pm.names))
		}
		if rw, err := pm.compileRewrite(rewrite); err == nil {
			out := rw.build(vals)
			if !strings.HasPrefix(out, "/") || cleanPath(out) != out {
				t.Fatalf("rewrite %q gave %q, not a clean path", rewrite, out)
			}
		}
	})
}
