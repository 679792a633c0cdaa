package rules_test

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rules"
)

// fleet returns n endpoints: IDs i0..., addresses 10.0.0.i:80, version v1 but for the
// versions given by index.
func fleet(n int, versions map[int]string) []rules.Endpoint {
	eps := make([]rules.Endpoint, n)
	for i := range eps {
		v := "v1"
		if s, ok := versions[i]; ok {
			v = s
		}
		eps[i] = rules.Endpoint{ID: fmt.Sprintf("i%d", i), Endpoint: pick.Endpoint{
			Key: fmt.Sprintf("10.0.%d.%d:80", i/250, i%250), Weight: 100, Version: v,
		}}
	}
	return eps
}

// shares picks calls times and returns each endpoint's share of them.
func shares(p *rules.Picker, tag string, h rules.Header, calls int) map[int]float64 {
	got := map[int]float64{}
	for range calls {
		got[p.Pick(tag, h, 0, 0)]++
	}
	for k := range got {
		got[k] /= float64(calls)
	}
	return got
}

func TestCompileOverrides(t *testing.T) {
	eps := fleet(3, nil)
	s := rules.Service{Instances: []rules.Instance{
		{ID: "i0", Out: true},
		{Address: eps[1].Key, Weight: 300},
	}}
	p, err := rules.Compile(pick.AlgRoundRobin, eps, s, pick.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := shares(p, "", nil, 4000)
	if got[0] != 0 {
		t.Errorf("the instance out of traffic took %.1f%% of the calls", 100*got[0])
	}
	if math.Abs(got[1]-0.75) > 0.01 || math.Abs(got[2]-0.25) > 0.01 {
		t.Errorf("shares %v: want 0.75 and 0.25 after the weight override", got)
	}
}

func TestCompileAllOut(t *testing.T) {
	eps := fleet(2, nil)
	s := rules.Service{Instances: []rules.Instance{{ID: "i0", Out: true}, {ID: "i1", Out: true}}}
	_, err := rules.Compile(pick.AlgP2C, eps, s, pick.Filter{})
	if !errors.Is(err, rules.ErrAllOut) || !errors.Is(err, pick.ErrNoEndpoint) {
		t.Fatalf("error %v: want ErrAllOut and pick.ErrNoEndpoint", err)
	}
	t.Log(err)
}

func TestCompileRoutes(t *testing.T) {
	eps := fleet(4, map[int]string{2: "v2", 3: "v2"})
	s := rules.Service{Routes: []rules.Route{
		{Match: rules.Match{Tag: "beta"}, To: []rules.Destination{{Version: "v2", Weight: 1}}},
		{Match: rules.Match{Header: "x-canary", Value: "true"}, To: []rules.Destination{
			{Version: "v2", Weight: 10}, {Version: "v1", Weight: 90},
		}},
		{Match: rules.Match{Header: "x-gone"}, To: []rules.Destination{{Version: "v9", Weight: 1}}},
	}}
	p, err := rules.Compile(pick.AlgRandom, eps, s, pick.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Tagged() || !p.Headers() {
		t.Errorf("Tagged %v, Headers %v: want both", p.Tagged(), p.Headers())
	}
	v2 := func(got map[int]float64) float64 { return got[2] + got[3] }
	if got := shares(p, "beta", nil, 2000); v2(got) != 1 {
		t.Errorf("tag beta: v2 took %.3f of the calls, want all", v2(got))
	}
	canary := http.Header{"X-Canary": {"true"}}
	if got := v2(shares(p, "", canary, 20000)); math.Abs(got-0.10) > 0.015 {
		t.Errorf("header x-canary: v2 took %.3f of the calls, want 0.10", got)
	}
	// Neither the wrong value nor the route with no destination left catches a call.
	for _, h := range []http.Header{{"X-Canary": {"false"}}, {"X-Gone": {"1"}}, nil} {
		var hh rules.Header
		if h != nil {
			hh = h
		}
		if got := v2(shares(p, "", hh, 20000)); math.Abs(got-0.5) > 0.02 {
			t.Errorf("header %v: v2 took %.3f of the calls, want 0.5 as unrouted calls", h, got)
		}
	}
}

func TestCompileVersionFilter(t *testing.T) {
	eps := fleet(3, map[int]string{2: "v2"})
	p, err := rules.Compile(pick.AlgRoundRobin, eps, rules.Service{}, pick.Filter{Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if got := shares(p, "", nil, 100); got[2] != 1 {
		t.Errorf("shares %v: want all on the v2 endpoint", got)
	}
	_, err = rules.Compile(pick.AlgRoundRobin, eps, rules.Service{}, pick.Filter{Version: "v3"})
	if !errors.Is(err, pick.ErrNoEndpoint) || errors.Is(err, rules.ErrAllOut) {
		t.Errorf("error %v: want pick.ErrNoEndpoint alone", err)
	}
}

// TestPickAllocs guards the promise of no allocation per pick, header routes included.
func TestPickAllocs(t *testing.T) {
	for _, c := range benchCases {
		p := benchPicker(t, c.routes)
		var h rules.Header
		if c.header != nil {
			h = c.header
		}
		if n := testing.AllocsPerRun(1000, func() { p.Pick(c.tag, h, 0, 0) }); n != 0 {
			t.Errorf("%s: %v allocations per pick, want 0", c.name, n)
		}
	}
}

// benchCases are the route sets of BenchmarkPick: each has ten routes, and the call
// matches the last one or, for "unmatched", none.
var benchCases = []struct {
	name   string
	routes func(i int) rules.Match
	tag    string
	header http.Header
}{
	{"tag_routes", func(i int) rules.Match { return rules.Match{Tag: fmt.Sprintf("t%d", i)} }, "t9", nil},
	{"header_routes_one_name", func(i int) rules.Match {
		return rules.Match{Header: "x-canary", Value: fmt.Sprintf("c%d", i)}
	}, "", http.Header{"X-Canary": {"c9"}}},
	{"header_routes_ten_names", func(i int) rules.Match {
		return rules.Match{Header: fmt.Sprintf("x-route-%d", i), Value: "on"}
	}, "", http.Header{"X-Route-9": {"on"}}},
	{"header_routes_ten_names_unmatched", func(i int) rules.Match {
		return rules.Match{Header: fmt.Sprintf("x-route-%d", i), Value: "on"}
	}, "", http.Header{"Accept": {"*/*"}, "User-Agent": {"bench"}, "Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}},
	// A browser's request through a gateway: more headers than there are names.
	{"header_routes_ten_names_12_headers", func(i int) rules.Match {
		return rules.Match{Header: fmt.Sprintf("x-route-%d", i), Value: "on"}
	}, "", http.Header{
		"Accept": {"text/html"}, "Accept-Encoding": {"gzip, br"}, "Accept-Language": {"en"},
		"Cache-Control": {"no-cache"}, "Connection": {"keep-alive"}, "Cookie": {"s=1"},
		"Referer": {"https://example.com/"}, "User-Agent": {"bench"}, "X-Forwarded-For": {"127.0.0.1"},
		"X-Request-Id": {"42"}, "Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"X-Route-9": {"on"},
	}},
}

// benchPicker compiles 100 rules over 1,000 endpoints: 90 instance overrides (45 out, 45
// with a weight) and 10 routes of two destinations each, matching as match says.
func benchPicker(t testing.TB, match func(i int) rules.Match) *rules.Picker {
	versions := map[int]string{}
	for i := range 100 {
		versions[i] = fmt.Sprintf("v%d", 2+i%10)
	}
	eps := fleet(1000, versions)
	var s rules.Service
	for i := range 90 {
		in := rules.Instance{ID: fmt.Sprintf("i%d", 100+i*9)}
		if i%2 == 0 {
			in.Out = true
		} else {
			in.Weight = 50 + i
		}
		s.Instances = append(s.Instances, in)
	}
	for i := range 10 {
		s.Routes = append(s.Routes, rules.Route{
			Match: match(i),
			To:    []rules.Destination{{Version: fmt.Sprintf("v%d", 2+i), Weight: 20}, {Version: "v1", Weight: 80}},
		})
	}
	if err := (&rules.Rules{Services: map[string]rules.Service{"s": s}}).Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := rules.Compile(pick.AlgP2C, eps, s, pick.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkPick compares a P2C pick among 1,000 endpoints without rules (pick.Router) and
// with 100 rules in force: 90 instance overrides and 10 routes, all tried before the call
// matches the last one (or none).
//
//	go test -run '^$' -bench Pick -benchmem -count=3 ./rules/
func BenchmarkPick(b *testing.B) {
	b.Run("rules=none", func(b *testing.B) {
		eps := fleet(1000, nil)
		plain := make([]pick.Endpoint, len(eps))
		for i := range eps {
			plain[i] = eps[i].Endpoint
		}
		r, err := pick.NewRouter(pick.AlgP2C, plain, pick.Filter{})
		if err != nil {
			b.Fatal(err)
		}
		now := pick.MonotonicClock()
		b.ReportAllocs()
		for b.Loop() {
			r.Pick("", 0, now)
		}
	})
	for _, c := range benchCases {
		b.Run("rules=100/"+c.name, func(b *testing.B) {
			p := benchPicker(b, c.routes)
			var h rules.Header
			if c.header != nil {
				h = c.header
			}
			now := pick.MonotonicClock()
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(c.tag, h, 0, now)
			}
		})
	}
}

// An empty match takes every call no earlier route takes: with it last, a canary version
// gets only its share, header or not.
func TestACatchAllRouteHoldsTheCanaryToItsShare(t *testing.T) {
	eps := fleet(4, map[int]string{2: "v2", 3: "v2"})
	s := rules.Service{Routes: []rules.Route{
		{Match: rules.Match{Header: "x-canary", Value: "true"}, To: []rules.Destination{{Version: "v2", Weight: 1}}},
		{Match: rules.Match{}, To: []rules.Destination{{Version: "v2", Weight: 10}, {Version: "v1", Weight: 90}}},
	}}
	if err := (&rules.Rules{Services: map[string]rules.Service{"a": s}}).Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := rules.Compile(pick.AlgRandom, eps, s, pick.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	v2 := func(got map[int]float64) float64 { return got[2] + got[3] }
	if got := v2(shares(p, "", http.Header{"X-Canary": {"true"}}, 2000)); got != 1 {
		t.Errorf("with the header v2 took %.3f of the calls, want all", got)
	}
	for _, h := range []rules.Header{nil, http.Header{"X-Canary": {"false"}}} {
		if got := v2(shares(p, "", h, 20000)); math.Abs(got-0.10) > 0.015 {
			t.Errorf("headers %v: v2 took %.3f of the calls, want 0.10", h, got)
		}
	}
	if got := v2(shares(p, "other-tag", nil, 20000)); math.Abs(got-0.10) > 0.015 {
		t.Errorf("a tagged call: v2 took %.3f of the calls, want 0.10", got)
	}
}

// Routes on many header names, many alike but for one inner byte and one longer than 63
// bytes, each reach their own destination whether the call carries few headers (read entry
// by entry) or more than there are names (read name by name); a name of the same length
// and bytes at the ends, or a value not wanted, reaches none.
func TestHeaderRoutesAmongManyNames(t *testing.T) {
	var names []string
	for i := range 40 {
		names = append(names, fmt.Sprintf("x-route-%c%c", 'a'+i/10, 'a'+i%10))
	}
	names = append(names, "x-"+strings.Repeat("long-", 14)+"name")
	versions := map[int]string{}
	var s rules.Service
	for i, name := range names {
		versions[i] = fmt.Sprintf("v%d", i+2)
		s.Routes = append(s.Routes, rules.Route{
			Match: rules.Match{Header: name, Value: "on"},
			To:    []rules.Destination{{Version: versions[i], Weight: 1}},
		})
	}
	// A second value on the first name, to another destination: two values on one name.
	s.Routes = append(s.Routes, rules.Route{
		Match: rules.Match{Header: names[0], Value: "also"},
		To:    []rules.Destination{{Version: versions[1], Weight: 1}},
	})
	// The calls no route takes go to the one v1 endpoint.
	s.Routes = append(s.Routes, rules.Route{To: []rules.Destination{{Version: "v1", Weight: 1}}})
	unrouted := len(names)
	p, err := rules.Compile(pick.AlgRandom, fleet(len(names)+1, versions), s, pick.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	filler := http.Header{}
	for i := range len(names) {
		filler.Set(fmt.Sprintf("x-filler-%d", i), "on")
	}
	check := func(h http.Header, want int) {
		t.Helper()
		few := http.Header{}
		for k, vs := range h {
			few[k] = vs
		}
		many := filler.Clone()
		for k, vs := range h {
			many[k] = vs
		}
		for _, hh := range []http.Header{few, many} {
			if got := p.Pick("", hh, 0, 0); got != want {
				t.Errorf("%d headers with %v: picked endpoint %d, want %d", len(hh), h, got, want)
			}
		}
	}
	for i, name := range names {
		check(http.Header{http.CanonicalHeaderKey(name): {"on"}}, i)
		check(http.Header{http.CanonicalHeaderKey(name): {"off"}}, unrouted)
	}
	check(http.Header{"X-Route-Aa": {"also"}}, 1)
	check(http.Header{"X-Route-Zz": {"on"}, "X-Route-Za": {"on"}}, unrouted)
	// Two matching headers: the earlier route wins.
	check(http.Header{"X-Route-Dd": {"on"}, "X-Route-Bc": {"on"}}, 12)
}
