package rules

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
)

// ErrAllOut is wrapped by Compile's error when the instance overrides take every endpoint
// out of traffic; the error wraps pick.ErrNoEndpoint too.
var ErrAllOut = errors.New("rules: every instance is out of traffic")

// Endpoint is one endpoint of a snapshot as Compile sees it: the endpoint the algorithms
// pick from, whose Key is its host:port (what overrides by address match), and the ID of
// the registry instance it belongs to (what overrides by id match).
type Endpoint struct {
	ID string
	pick.Endpoint
}

// Header gives route matching a call's request headers: an http.Header as it is, or the
// gRPC metadata of the call. Get returns the first value of the named header, "" when it
// is absent; the name is passed in lower case, gRPC's form (an http.Header is read
// directly, by the canonical form of the name).
type Header interface {
	Get(name string) string
}

// Picker is one service's rules compiled over one snapshot of its endpoints, built again
// for each new snapshot or rules document and never changed: the instance overrides
// applied (weights replaced, endpoints out of traffic left out), one pick.Router per route
// destination built over its subset, and one over every endpoint in traffic for the calls
// no route matches. A pick costs the route match (a lookup for the call's tag and one per
// header name the routes match on, however many routes there are), a weighted draw among
// the route's destinations and the bare pick, and allocates nothing.
//
// Picker is safe for concurrent use.
type Picker struct {
	all    group
	routes []route
	tagged bool // some route matches by tag, or some endpoint has a tag
	rand   func() uint64

	// The routes are indexed for matching, so that a call costs a lookup for its tag and
	// one per header name, however many routes there are: the first route that matches
	// is the one of lowest index among those the lookups find.
	byTag    map[string]int // the first route matching each tag
	names    []headerRoutes // one per header name routes match on
	byHeader map[string]int // index in names, by canonical header name
	// nameLens holds the lengths of the names as a bit set (lenBit), so that most of an
	// http.Header's entries no route matches on are turned away without hashing them.
	nameLens uint64
	// catchAll is the route of an empty match, which takes every call no earlier route
	// takes (Validate keeps it last); len(routes) when there is none.
	catchAll int
}

// headerRoutes indexes the routes matching on one header.
type headerRoutes struct {
	header  string         // canonical, for an http.Header
	lower   string         // lower case, for any other Header
	byValue map[string]int // the first route wanting each value
	// With a single value wanted, it and its route, compared without a map lookup.
	oneValue string
	oneRoute int // len(routes) when byValue holds more than one value, or none
	any      int // the first route accepting any value; len(routes) if none
	first    int // the lowest of them all: no lookup when a better one is found
}

// match returns the lower of first and the first route taking value v.
func (hr *headerRoutes) match(v string, first int) int {
	if v == "" || hr.first >= first {
		return first
	}
	if len(hr.byValue) == 1 {
		if v == hr.oneValue {
			first = min(first, hr.oneRoute)
		}
	} else if i, ok := hr.byValue[v]; ok && i < first {
		first = i
	}
	return min(first, hr.any)
}

// group is a router over a subset of the snapshot, with the snapshot index of each of the
// router's endpoints.
type group struct {
	r     *pick.Router
	index []int32
}

func (g *group) pick(tag string, key uint64, now time.Duration) int {
	return int(g.index[g.r.Pick(tag, key, now)])
}

type route struct {
	dests []dest
	total int // the destinations' weights added up
}

type dest struct {
	group
	tag    string // the destination's instance tag: its router's group for the pick
	weight int
}

// Compile builds the picker of service rules s over eps with algorithm alg behind filter
// f: f.Version drops the endpoints of other versions before anything else, f.Zone keeps
// calls in the caller's zone within each set where it can. Nil Stats in eps are filled in
// place, as pick.New does, so that the caller keeps them for its next snapshot.
//
// A route whose destinations have no endpoint in traffic is left out: its calls go where
// unmatched calls go. An override naming no endpoint of the snapshot does nothing (its
// instance may come back). The error wraps pick.ErrNoEndpoint when nothing is left to pick
// from, and ErrAllOut as well when that is the overrides' doing.
func Compile(alg pick.Algorithm, eps []Endpoint, s Service, f pick.Filter, opts ...pick.Option) (*Picker, error) {
	byID := map[string]Instance{}
	byAddr := map[string]Instance{}
	for _, in := range s.Instances {
		if in.ID != "" {
			byID[in.ID] = in
		} else if _, _, err := net.SplitHostPort(in.Address); err == nil {
			byAddr[in.Address] = in
		} else {
			byAddr[strings.Trim(in.Address, "[]")] = in // a host alone, as hostOf gives it
		}
	}
	// live holds the endpoints in traffic with their overridden weights, sharing the
	// caller's Stats; at holds each one's index in eps.
	live := make([]pick.Endpoint, 0, len(eps))
	at := make([]int32, 0, len(eps))
	versioned := 0
	for i := range eps {
		e := &eps[i]
		if e.Stats == nil {
			e.Stats = pick.NewStats(opts...)
		}
		if f.Version != "" && e.Version != f.Version {
			continue
		}
		versioned++
		ep := e.Endpoint
		in, ok := byID[e.ID] // an override by ID wins over one by address
		if !ok {
			in, ok = byAddr[e.Key]
		}
		if !ok && len(byAddr) > 0 {
			in, ok = byAddr[hostOf(e.Key)]
		}
		if ok {
			if in.Out {
				continue
			}
			if in.Weight > 0 {
				ep.Weight = in.Weight
			}
			if in.Tag != "" {
				ep.Tag = in.Tag
			}
		}
		live = append(live, ep)
		at = append(at, int32(i))
	}
	if len(live) == 0 {
		switch {
		case versioned > 0:
			return nil, fmt.Errorf("%w: %w: the rules take all %d instances out", ErrAllOut, pick.ErrNoEndpoint, versioned)
		case f.Version != "" && len(eps) > 0:
			return nil, fmt.Errorf("%w: none of %d is of version %q", pick.ErrNoEndpoint, len(eps), f.Version)
		}
		return nil, pick.ErrNoEndpoint
	}
	p := &Picker{rand: rand.Uint64, catchAll: -1}
	var err error
	if p.all, err = newGroup(alg, live, at, nil, pick.Filter{Zone: f.Zone}, opts); err != nil {
		return nil, err
	}
	p.tagged = p.all.r.Tagged()
	for _, rt := range s.Routes {
		var r route
		for _, d := range rt.To {
			if d.Weight <= 0 {
				continue
			}
			var idx []int
			for k := range live {
				if (d.Version == "" || live[k].Version == d.Version) &&
					(d.Zone == "" || live[k].Zone == d.Zone) &&
					(d.Tag == "" || live[k].Tag == d.Tag) {
					idx = append(idx, k)
				}
			}
			if len(idx) == 0 {
				continue
			}
			g, err := newGroup(alg, live, at, idx, pick.Filter{Zone: f.Zone}, opts)
			if err != nil {
				return nil, err
			}
			r.dests = append(r.dests, dest{group: g, tag: d.Tag, weight: d.Weight})
			r.total += d.Weight
		}
		if len(r.dests) == 0 {
			continue
		}
		p.routes = append(p.routes, r)
		p.index(rt.Match, len(p.routes)-1)
	}
	if p.catchAll < 0 {
		p.catchAll = len(p.routes)
	}
	for k := range p.names {
		hr := &p.names[k]
		if hr.any < 0 {
			hr.any = len(p.routes)
		}
		hr.first = hr.any
		hr.oneRoute = len(p.routes)
		for v, i := range hr.byValue {
			hr.first = min(hr.first, i)
			hr.oneValue, hr.oneRoute = v, i // used only when it is the one
		}
	}
	return p, nil
}

// hostOf is the host of a host:port key as overrides by host name it ("::1" without
// brackets); the key itself when it has no port.
func hostOf(key string) string {
	if h, _, err := net.SplitHostPort(key); err == nil {
		return h
	}
	return key
}

// lenBit is the bit of nameLens for a name of this length; names of 63 bytes or more
// share the last.
func lenBit(name string) uint64 { return 1 << min(len(name), 63) }

// findName returns the index in names of the canonical header name, -1 when no route
// matches on it.
func (p *Picker) findName(name string) int {
	if p.nameLens&lenBit(name) == 0 {
		return -1
	}
	if k, ok := p.byHeader[name]; ok {
		return k
	}
	return -1
}

// index records that route i matches on m, unless an earlier route already takes the
// same calls.
func (p *Picker) index(m Match, i int) {
	if m.Tag == "" && m.Header == "" {
		if p.catchAll < 0 {
			p.catchAll = i
		}
		return
	}
	if m.Tag != "" {
		p.tagged = true
		if p.byTag == nil {
			p.byTag = map[string]int{}
		}
		if _, taken := p.byTag[m.Tag]; !taken {
			p.byTag[m.Tag] = i
		}
		return
	}
	name := http.CanonicalHeaderKey(m.Header)
	k, ok := p.byHeader[name]
	if !ok {
		if p.byHeader == nil {
			p.byHeader = map[string]int{}
		}
		k = len(p.names)
		p.byHeader[name] = k
		p.nameLens |= lenBit(name)
		p.names = append(p.names, headerRoutes{header: name, lower: strings.ToLower(m.Header),
			byValue: map[string]int{}, any: -1})
	}
	hr := &p.names[k]
	switch {
	case m.Value == "":
		if hr.any < 0 {
			hr.any = i
		}
	default:
		if _, taken := hr.byValue[m.Value]; !taken {
			hr.byValue[m.Value] = i
		}
	}
}

// newGroup builds a router over live[idx] (all of live when idx is nil).
func newGroup(alg pick.Algorithm, live []pick.Endpoint, at []int32, idx []int, f pick.Filter, opts []pick.Option) (group, error) {
	if idx == nil {
		r, err := pick.NewRouter(alg, live, f, opts...)
		return group{r: r, index: at}, err
	}
	sub := make([]pick.Endpoint, len(idx))
	index := make([]int32, len(idx))
	for k, i := range idx {
		sub[k], index[k] = live[i], at[i]
	}
	r, err := pick.NewRouter(alg, sub, f, opts...)
	return group{r: r, index: index}, err
}

// Tagged reports whether a call's tag matters, that is whether the caller should look it
// up for each call at all.
func (p *Picker) Tagged() bool { return p.tagged }

// Headers reports whether some route matches by header, that is whether the caller should
// pass the call's headers to Pick at all (nil does otherwise).
func (p *Picker) Headers() bool { return len(p.names) > 0 }

// Pick chooses an endpoint for a call carrying tag ("" for none) and headers h (nil when
// Headers is false), hash key and start time now (see pick.Picker), and returns its index
// in the list Compile was given.
//
// The first route whose match accepts the call sends it to one of the route's
// destinations, drawn by weight; within it, the call's tag still chooses among tagged and
// untagged endpoints (pick.Router), unless the destination names a tag itself. An empty
// match accepts every call that no earlier route takes. A call no route accepts goes to
// every endpoint in traffic, where untagged calls keep off tagged (canary) endpoints when
// there are others.
func (p *Picker) Pick(tag string, h Header, key uint64, now time.Duration) int {
	first := p.catchAll
	if tag != "" && p.byTag != nil {
		if i, ok := p.byTag[tag]; ok {
			first = i
		}
	}
	if h != nil && len(p.names) > 0 {
		first = p.matchHeaders(h, first)
	}
	if first < len(p.routes) {
		return p.pickIn(&p.routes[first], tag, key, now)
	}
	return p.all.pick(tag, key, now)
}

// matchHeaders returns the lower of first and the first header route h matches. An
// http.Header is read as the map it is (its Get puts the name in canonical form first,
// which costs more than the lookup), by its own entries when it has fewer than there are
// names: a step of the map's iterator costs about a lookup, so with more entries than
// names the lookups by name are the cheaper (docs/benchmarks.md has the figures).
func (p *Picker) matchHeaders(h Header, first int) int {
	hh, isHTTP := h.(http.Header)
	if isHTTP && len(hh) < len(p.names) {
		for name, vs := range hh {
			if len(vs) > 0 {
				if k := p.findName(name); k >= 0 {
					first = p.names[k].match(vs[0], first)
				}
			}
		}
		return first
	}
	for k := range p.names {
		hr := &p.names[k]
		if hr.first >= first {
			continue
		}
		var v string
		if isHTTP {
			if vs := hh[hr.header]; len(vs) > 0 {
				v = vs[0]
			}
		} else {
			v = h.Get(hr.lower)
		}
		first = hr.match(v, first)
	}
	return first
}

// pickIn picks among the destinations of route r.
func (p *Picker) pickIn(r *route, tag string, key uint64, now time.Duration) int {
	d := &r.dests[0]
	if len(r.dests) > 1 {
		n := int(uint64(uint32(p.rand())) * uint64(r.total) >> 32)
		for k := range r.dests {
			if n -= r.dests[k].weight; n < 0 {
				d = &r.dests[k]
				break
			}
		}
	}
	if d.tag != "" {
		tag = d.tag
	}
	return d.pick(tag, key, now)
}
