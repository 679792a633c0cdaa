package pick

import (
	"fmt"
	"time"
)

// Filter says which endpoints a Router may send a call to.
type Filter struct {
	// Version, when set, admits only endpoints of exactly this version.
	Version string
	// Zone, when set, is the caller's zone: calls stay among endpoints of this zone when
	// there is any, and go to all of them otherwise.
	Zone string
}

// Router puts filters in front of an algorithm. It is built once per snapshot: the version
// filter drops endpoints, and one picker is built per tag over the tag's endpoints, so that
// a pick costs one map lookup more than the bare algorithm.
//
// The rules, in order:
//   - version: only endpoints of Filter.Version, when set;
//   - tag: a call tagged T goes to endpoints tagged T when there is any; every other call
//     goes to untagged endpoints when there is any, and to all endpoints otherwise, so that
//     canary instances take only traffic asking for them (Dubbo's tag routing);
//   - zone: within that set, endpoints of Filter.Zone when there is any, else the whole set.
type Router struct {
	untagged group
	tagged   map[string]group
}

// group is a picker over a subset of the router's endpoints.
type group struct {
	p     Picker
	index []int // index in the router's list of each of the picker's endpoints
}

// NewRouter builds alg behind f over eps, filling nil Stats in place. It returns
// ErrNoEndpoint, wrapped with the reason, when no endpoint passes the version filter.
func NewRouter(alg Algorithm, eps []Endpoint, f Filter, opts ...Option) (*Router, error) {
	o := newOptions(opts)
	var kept []int
	for i := range eps {
		if f.Version == "" || eps[i].Version == f.Version {
			kept = append(kept, i)
		}
	}
	if len(kept) == 0 {
		if f.Version != "" && len(eps) > 0 {
			return nil, fmt.Errorf("%w: none of %d is of version %q", ErrNoEndpoint, len(eps), f.Version)
		}
		return nil, ErrNoEndpoint
	}
	byTag := map[string][]int{}
	for _, i := range kept {
		byTag[eps[i].Tag] = append(byTag[eps[i].Tag], i)
	}
	r := &Router{}
	var err error
	untagged := byTag[""]
	if len(untagged) == 0 {
		untagged = kept
	}
	if r.untagged, err = newGroup(alg, eps, untagged, f.Zone, o); err != nil {
		return nil, err
	}
	for tag, idx := range byTag {
		if tag == "" {
			continue
		}
		if r.tagged == nil {
			r.tagged = map[string]group{}
		}
		if r.tagged[tag], err = newGroup(alg, eps, idx, f.Zone, o); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func newGroup(alg Algorithm, eps []Endpoint, idx []int, zone string, o *options) (group, error) {
	if zone != "" {
		var local []int
		for _, i := range idx {
			if eps[i].Zone == zone {
				local = append(local, i)
			}
		}
		if len(local) > 0 {
			idx = local
		}
	}
	sub := make([]Endpoint, len(idx))
	for k, i := range idx {
		if eps[i].Stats == nil {
			eps[i].Stats = newStats(o)
		}
		sub[k] = eps[i]
	}
	p, err := build(alg, sub, o)
	return group{p: p, index: idx}, err
}

// Tagged reports whether any endpoint has a tag, that is whether the caller should look up
// each call's tag at all.
func (r *Router) Tagged() bool { return len(r.tagged) > 0 }

// Pick chooses an endpoint for a call carrying tag ("" for none), hash key and start time
// now (see Picker) and returns its index in the list the Router was built over.
func (r *Router) Pick(tag string, key uint64, now time.Duration) int {
	g := &r.untagged
	if tag != "" {
		if t, ok := r.tagged[tag]; ok {
			g = &t
		}
	}
	return g.index[g.p.Pick(key, now)]
}
