package rules

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error about a rules document.
var ErrInvalid = errors.New("rules: invalid")

// Key is the config key the rules document lives under.
const Key = "rules"

// Rules is the whole rules document.
type Rules struct {
	// Defaults apply to every service, under the service's own rules: a service's
	// method policy falls back to the defaults' for the same method, then "*".
	Defaults Service `json:"defaults" config:"defaults"`
	// Services holds each service's rules by service name.
	Services map[string]Service `json:"services" config:"services"`
}

// Service holds one service's rules.
type Service struct {
	// Instances override what instances announce, by instance ID or host:port.
	Instances []Instance `json:"instances" config:"instances"`
	// Routes send matching calls to subsets of the instances; the first match wins, and a
	// call no route matches goes to every instance (less those out of traffic).
	Routes []Route `json:"routes" config:"routes"`
	// Methods holds the call policy by full gRPC method (/pkg.Service/Method), HTTP
	// route ("GET /orders/{id}"), or "*" for every other.
	Methods map[string]Policy `json:"methods" config:"methods"`
	// Limits holds the providers' limits by method, or "*".
	Limits map[string]Limit `json:"limits" config:"limits"`
}

// Instance overrides one instance: by ID or by address, not both. An address is host:port,
// or a host alone for every instance on that host (Dubbo's rules name providers so); an
// override by ID wins over one by host:port, which wins over one by host.
type Instance struct {
	ID      string `json:"id" config:"id"`
	Address string `json:"address" config:"address"`
	// Weight replaces the announced weight when positive.
	Weight int `json:"weight" config:"weight"`
	// Out takes the instance out of traffic: no new calls go to it, and calls in flight
	// finish.
	Out bool `json:"out" config:"out"`
	// Tag, when set, replaces the instance's tag (the one its metadata announces), as
	// Dubbo's tag router gives a tag to the providers it names by address.
	Tag string `json:"tag" config:"tag"`
}

// Route sends the calls Match accepts to the destinations To, in proportion to their
// weights.
type Route struct {
	Match Match         `json:"match" config:"match"`
	To    []Destination `json:"to" config:"to"`
}

// Match accepts a call by its tag (loadbalance.WithTag, the X-Tianshu-Tag header) or by a
// request header (gRPC metadata or HTTP header, names case-insensitive): at most one of
// Tag and Header is set. With Header, Value is the value wanted; empty Value accepts any.
// An empty Match accepts every call: it is the last route, for the calls no other takes.
type Match struct {
	Tag    string `json:"tag" config:"tag"`
	Header string `json:"header" config:"header"`
	Value  string `json:"value" config:"value"`
}

// Destination is a subset of a service's instances, by version, zone and instance tag
// (each optional, all that are set must hold), with its share of the route's calls.
type Destination struct {
	Version string `json:"version" config:"version"`
	Zone    string `json:"zone" config:"zone"`
	Tag     string `json:"tag" config:"tag"`
	Weight  int    `json:"weight" config:"weight"`
}

// Policy is the call policy of a method.
type Policy struct {
	// Timeout bounds each call (zero: the caller's own deadline only).
	Timeout time.Duration `json:"timeout" config:"timeout"`
	// Retries, when set, replaces the client's retry policy for the method.
	Retries *Retries `json:"retries" config:"retries"`
	// Breaker, when set, replaces the breaker's thresholds for the method.
	Breaker *Breaker `json:"breaker" config:"breaker"`
	// Outlier, when set, replaces the balancer's ejection of failing instances.
	Outlier *Outlier `json:"outlier" config:"outlier"`
}

// Retries is a retry policy: Attempts counts the first call (1: no retry); Budget is the
// share of calls that may be retries (0.1: 10%).
type Retries struct {
	Attempts int     `json:"attempts" config:"attempts"`
	Budget   float64 `json:"budget" config:"budget"`
}

// Breaker holds a circuit breaker's thresholds.
type Breaker struct {
	// FailureRatio opens the circuit at this share of failed calls in the window.
	FailureRatio float64 `json:"failureRatio" config:"failureRatio"`
	// MinRequests is the fewest calls in the window before the circuit may open.
	MinRequests int `json:"minRequests" config:"minRequests"`
	// Window is the span of calls counted.
	Window time.Duration `json:"window" config:"window"`
	// SleepWindow is how long the circuit stays open before it lets a probe through.
	SleepWindow time.Duration `json:"sleepWindow" config:"sleepWindow"`
}

// Outlier holds the ejection of instances that fail in a row.
type Outlier struct {
	// Failures in a row eject an instance; zero turns ejection off.
	Failures int `json:"failures" config:"failures"`
	// Base is the first ejection's length, doubled for each ejection in a row up to Max.
	Base time.Duration `json:"base" config:"base"`
	Max  time.Duration `json:"max" config:"max"`
}

// Limit is a provider's rate limit: Rate calls a second, with bursts of Burst.
type Limit struct {
	Rate  float64 `json:"rate" config:"rate"`
	Burst int     `json:"burst" config:"burst"`
}

// Validate checks the whole document and returns every fault it finds, each naming its
// place ("services.orders.routes[0].to[1]: weight -3: want 0 or more"), joined and
// wrapped in ErrInvalid.
func (r *Rules) Validate() error {
	var errs []error
	fail := func(place, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, place, fmt.Sprintf(format, args...)))
	}
	r.Defaults.validate("defaults", fail)
	for name, s := range r.Services {
		if strings.TrimSpace(name) == "" {
			fail("services", "a service with an empty name")
		}
		s.validate("services."+name, fail)
	}
	return errors.Join(errs...)
}

func (s *Service) validate(at string, fail func(place, format string, args ...any)) {
	seen := map[string]int{}
	for i, in := range s.Instances {
		place := fmt.Sprintf("%s.instances[%d]", at, i)
		key := ""
		switch {
		case in.ID != "" && in.Address != "":
			fail(place, "both id %q and address %q: want one", in.ID, in.Address)
		case in.ID != "":
			key = "id " + in.ID
		case in.Address != "":
			key = "address " + in.Address
			if !validAddress(in.Address) {
				fail(place, "address %q: want host:port, or a host alone", in.Address)
			}
		default:
			fail(place, "neither id nor address")
		}
		if in.Weight < 0 {
			fail(place, "weight %d: want 0 (keep the announced one) or more", in.Weight)
		}
		if key != "" {
			if j, dup := seen[key]; dup {
				fail(place, "%s is already overridden by instances[%d]", key, j)
			}
			seen[key] = i
		}
	}
	for i, rt := range s.Routes {
		place := fmt.Sprintf("%s.routes[%d]", at, i)
		m := rt.Match
		switch {
		case m.Tag != "" && m.Header != "":
			fail(place+".match", "both tag and header: want one, or neither for every call")
		case m.Value != "" && m.Header == "":
			fail(place+".match", "value without a header")
		case m.Tag == "" && m.Header == "" && i < len(s.Routes)-1:
			fail(place+".match", "accepts every call, so routes[%d] and after are never reached", i+1)
		}
		if len(rt.To) == 0 {
			fail(place, "no destination (to)")
		}
		total := 0
		for j, d := range rt.To {
			dp := fmt.Sprintf("%s.to[%d]", place, j)
			if d.Weight < 0 {
				fail(dp, "weight %d: want 0 or more", d.Weight)
			}
			if d.Version == "" && d.Zone == "" && d.Tag == "" {
				fail(dp, "no version, zone or tag: the destination would be every instance")
			}
			total += d.Weight
		}
		if len(rt.To) > 0 && total == 0 {
			fail(place, "the destinations' weights add up to 0")
		}
	}
	for method, p := range s.Methods {
		place := fmt.Sprintf("%s.methods[%q]", at, method)
		if method == "" {
			fail(place, "empty method: want /pkg.Service/Method, an HTTP route or \"*\"")
		} else if method != "*" && !strings.HasPrefix(method, "/") {
			if why := checkRoute(method); why != "" {
				fail(place, "HTTP route %q: %s", method, why)
			}
		}
		if p.Timeout < 0 {
			fail(place, "timeout %v: want 0 or more", p.Timeout)
		}
		if r := p.Retries; r != nil {
			if r.Attempts < 1 {
				fail(place+".retries", "attempts %d: want 1 (no retry) or more", r.Attempts)
			}
			if r.Budget < 0 || r.Budget > 1 {
				fail(place+".retries", "budget %v: want a share from 0 to 1", r.Budget)
			}
		}
		if b := p.Breaker; b != nil {
			if b.FailureRatio <= 0 || b.FailureRatio > 1 {
				fail(place+".breaker", "failureRatio %v: want more than 0, at most 1", b.FailureRatio)
			}
			if b.MinRequests < 0 || b.Window < 0 || b.SleepWindow < 0 {
				fail(place+".breaker", "minRequests, window and sleepWindow: want 0 or more")
			}
		}
		if o := p.Outlier; o != nil {
			if o.Failures < 0 || o.Base < 0 || o.Max < 0 {
				fail(place+".outlier", "failures, base and max: want 0 or more")
			}
			if o.Max > 0 && o.Max < o.Base {
				fail(place+".outlier", "max %v below base %v", o.Max, o.Base)
			}
		}
	}
	for method, l := range s.Limits {
		place := fmt.Sprintf("%s.limits[%q]", at, method)
		if method == "" {
			fail(place, "empty method")
		}
		if l.Rate <= 0 {
			fail(place, "rate %v: want more than 0 calls a second", l.Rate)
		}
		if l.Burst < 0 {
			fail(place, "burst %d: want 0 or more", l.Burst)
		}
	}
}

// validAddress accepts host:port and a host alone: a name, an IPv4 address, or an IPv6
// address with or without brackets.
func validAddress(a string) bool {
	if host, port, err := net.SplitHostPort(a); err == nil {
		return host != "" && validPort(port)
	}
	if net.ParseIP(strings.Trim(a, "[]")) != nil {
		return true
	}
	return a != "" && !strings.ContainsAny(a, ":[]/ ")
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

// For returns the rules of service: its own, or the zero Service when it has none.
// Defaults are not merged in; see Policy.
func (r *Rules) For(service string) Service {
	if r == nil {
		return Service{}
	}
	return r.Services[service]
}

// PolicyFor returns the call policy of method on service: the service's entry for the
// method, else its "*", else the defaults' entry for the method, else the defaults' "*";
// ok is false when none is set.
func (r *Rules) PolicyFor(service, method string) (p Policy, ok bool) {
	if r == nil {
		return Policy{}, false
	}
	s := r.Services[service]
	for _, m := range []map[string]Policy{s.Methods, r.Defaults.Methods} {
		if p, ok := m[method]; ok {
			return p, true
		}
		if p, ok := m["*"]; ok {
			return p, true
		}
	}
	return Policy{}, false
}

// LimitFor returns the provider's limit of method on service, found as PolicyFor finds a
// policy.
func (r *Rules) LimitFor(service, method string) (l Limit, ok bool) {
	if r == nil {
		return Limit{}, false
	}
	s := r.Services[service]
	for _, m := range []map[string]Limit{s.Limits, r.Defaults.Limits} {
		if l, ok := m[method]; ok {
			return l, true
		}
		if l, ok := m["*"]; ok {
			return l, true
		}
	}
	return Limit{}, false
}
