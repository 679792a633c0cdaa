package gateway

import (
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// table is one compiled route set, never changed once built: a request is matched and
// served on the table it loaded, however many swaps happen meanwhile.
type table struct {
	routes []*route
	hosts  map[string]*group
	wild   []wildGroup // longest suffix first
	any    *group
	gen    uint64
	cfg    *Config
}

type wildGroup struct {
	suffix string // ".example.com"
	g      *group
}

// group holds the routes of one host pattern, indexed by path: exact paths by the path,
// prefixes and templates by their first literal segment (those starting with a variable or
// the prefix "/" sit in every bucket, and in other).
type group struct {
	exact   map[string][]*route
	buckets map[string][]*route
	other   []*route
}

func newGroup() *group {
	return &group{exact: map[string][]*route{}, buckets: map[string][]*route{}}
}

// index builds the lookup structures of t from t.routes.
func (t *table) index() {
	t.hosts = map[string]*group{}
	t.any = newGroup()
	wild := map[string]*group{}
	for _, rt := range t.routes {
		g := t.any
		switch h := rt.host; {
		case strings.HasPrefix(h, "*."):
			if g = wild[h[1:]]; g == nil {
				g = newGroup()
				wild[h[1:]] = g
			}
		case h != "":
			if g = t.hosts[h]; g == nil {
				g = newGroup()
				t.hosts[h] = g
			}
		}
		g.add(rt)
	}
	for s, g := range wild {
		t.wild = append(t.wild, wildGroup{s, g})
	}
	sort.Slice(t.wild, func(i, j int) bool {
		if len(t.wild[i].suffix) != len(t.wild[j].suffix) {
			return len(t.wild[i].suffix) > len(t.wild[j].suffix)
		}
		return t.wild[i].suffix < t.wild[j].suffix
	})
	for _, g := range t.groups() {
		g.sort()
	}
}

func (t *table) groups() []*group {
	gs := []*group{t.any}
	for _, g := range t.hosts {
		gs = append(gs, g)
	}
	for _, w := range t.wild {
		gs = append(gs, w.g)
	}
	return gs
}

func (g *group) add(rt *route) {
	if rt.path.kind == pathExact {
		g.exact[rt.path.lit] = append(g.exact[rt.path.lit], rt)
		return
	}
	if rt.path.first == "" {
		g.other = append(g.other, rt)
		return
	}
	g.buckets[rt.path.first] = append(g.buckets[rt.path.first], rt)
}

// sort orders each bucket by specificity, and copies the routes of other into every
// bucket, so that a lookup reads one list.
func (g *group) sort() {
	bySpec := func(l []*route) {
		sort.SliceStable(l, func(i, j int) bool {
			if l[i].path.weight != l[j].path.weight {
				return l[i].path.weight > l[j].path.weight
			}
			return l[i].index < l[j].index
		})
	}
	bySpec(g.other)
	for k, l := range g.buckets {
		l = append(l, g.other...)
		bySpec(l)
		g.buckets[k] = l
	}
}

// reqInfo is what matching reads of a request, computed once.
type reqInfo struct {
	r     *http.Request
	path  string
	query url.Values
	vals  []string
}

func (ri *reqInfo) queryValues() url.Values {
	if ri.query == nil {
		ri.query = ri.r.URL.Query()
	}
	return ri.query
}

// match returns the route of the request described by ri and host (lower case, no port),
// or nil. Routes of the exact host come first, then those of the longest matching
// *.domain, then those for any host; within each, exact paths first, then prefixes and
// templates with the most literal bytes, ties in document order.
func (t *table) match(host string, ri *reqInfo) *route {
	if g := t.hosts[host]; g != nil {
		if rt := g.match(ri); rt != nil {
			return rt
		}
	}
	for _, w := range t.wild {
		if strings.HasSuffix(host, w.suffix) && len(host) > len(w.suffix) {
			if rt := w.g.match(ri); rt != nil {
				return rt
			}
		}
	}
	return t.any.match(ri)
}

func (g *group) match(ri *reqInfo) *route {
	for _, rt := range g.exact[ri.path] {
		if rt.accepts(ri) {
			return rt
		}
	}
	l, ok := g.buckets[firstSegment(ri.path)]
	if !ok {
		l = g.other
	}
	for _, rt := range l {
		ri.vals = ri.vals[:0]
		if rt.path.match(ri.path, &ri.vals) && rt.accepts(ri) {
			return rt
		}
	}
	return nil
}

// accepts checks the conditions beside the path.
func (rt *route) accepts(ri *reqInfo) bool {
	if len(rt.methods) > 0 {
		ok := false
		for _, m := range rt.methods {
			if m == ri.r.Method {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, h := range rt.headers {
		v := ri.r.Header[h.name]
		if len(v) == 0 || h.value != "*" && v[0] != h.value {
			return false
		}
	}
	if len(rt.query) > 0 {
		q := ri.queryValues()
		for _, kv := range rt.query {
			v, ok := q[kv.name]
			if !ok || kv.value != "*" && (len(v) == 0 || v[0] != kv.value) {
				return false
			}
		}
	}
	return true
}

// normHost is the host routes match: lower case, without port or a trailing dot.
func normHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}
