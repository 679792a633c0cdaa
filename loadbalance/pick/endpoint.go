package pick

import (
	"errors"
	"fmt"
	"time"
)

// DefaultWeight is the weight of an endpoint whose Weight is zero or negative, the same as
// registry.DefaultWeight.
const DefaultWeight = 100

// ErrNoEndpoint is returned when there is nothing to pick from: an empty list, or no
// endpoint passing a Router's version filter.
var ErrNoEndpoint = errors.New("pick: no endpoint")

// Endpoint is one endpoint as the algorithms see it.
type Endpoint struct {
	// Key identifies the endpoint, typically host:port. Consistent hash places the endpoint
	// on its ring by Key alone, so equal lists give equal rings whatever their order.
	Key string
	// Weight is the relative share of traffic; zero or negative means DefaultWeight.
	Weight int
	// Version, Zone and Tag feed a Router's filters; the algorithms ignore them.
	Version, Zone, Tag string
	// Stats are the endpoint's live figures. A nil Stats is replaced in place by a fresh
	// one when an algorithm is built over the list.
	Stats *Stats
}

func (e *Endpoint) weight() int {
	if e.Weight <= 0 {
		return DefaultWeight
	}
	return e.Weight
}

// Picker chooses one endpoint of the list it was built over and returns its index.
//
// key is the call's hash key (see HashKey); only consistent hash reads it. now is the clock
// reading when the call starts; only P2C reads it, to spot endpoints not picked for a
// while, and the caller passes the same reading to Stats.EndTimed. Pick never fails: when
// every endpoint is ejected it still returns one, since a probably-failing call beats a
// certainly-failing one.
type Picker interface {
	Pick(key uint64, now time.Duration) int
}

// Algorithm names a picking algorithm.
type Algorithm int

// The algorithms.
const (
	// AlgP2C picks two endpoints at random by weight and keeps the one with the lower
	// latency x (in-flight + 1) / success rate²; an endpoint not picked for ProbeAfter gets
	// one call. Its latency figures need a clock reading per pick.
	AlgP2C Algorithm = iota
	// AlgRoundRobin is Nginx's smooth weighted round robin: weights 5:1:1 give a b a c a a a,
	// not a a a a a b c.
	AlgRoundRobin
	// AlgRandom picks at random in proportion to weight, in O(1) by the alias method.
	AlgRandom
	// AlgLeastActive is Dubbo's leastactive: the endpoint with the fewest calls in flight,
	// ties broken at random by weight. Up to 32 endpoints it scans them all, as Dubbo does;
	// above, it takes the least active of 4 endpoints drawn by weight, O(1).
	AlgLeastActive
	// AlgConsistentHash maps a key to a point on a ring of virtual nodes, O(log n): a key
	// sticks to its endpoint, and adding or removing one of n endpoints moves about 1/n of
	// the keys.
	AlgConsistentHash
)

var algNames = [...]string{"p2c", "round_robin", "random", "least_active", "consistent_hash"}

// String returns the algorithm's name in snake case, as in "least_active".
func (a Algorithm) String() string {
	if a < 0 || int(a) >= len(algNames) {
		return fmt.Sprintf("Algorithm(%d)", int(a))
	}
	return algNames[a]
}

// New builds the algorithm over eps, filling any nil Stats in place. It returns
// ErrNoEndpoint for an empty list.
func New(alg Algorithm, eps []Endpoint, opts ...Option) (Picker, error) {
	return build(alg, eps, newOptions(opts))
}

func build(alg Algorithm, eps []Endpoint, o *options) (Picker, error) {
	if len(eps) == 0 {
		return nil, ErrNoEndpoint
	}
	for i := range eps {
		if eps[i].Stats == nil {
			eps[i].Stats = newStats(o)
		}
	}
	switch alg {
	case AlgP2C:
		return newP2C(eps, o), nil
	case AlgRoundRobin:
		return newRoundRobin(eps), nil
	case AlgRandom:
		return newRandom(eps, o), nil
	case AlgLeastActive:
		return newLeastActive(eps, o), nil
	case AlgConsistentHash:
		return newRing(eps, o), nil
	}
	return nil, fmt.Errorf("pick: unknown algorithm %d", int(alg))
}

// fallback returns the first usable endpoint after i, or i itself when none is: the chosen
// endpoint i turned out to be ejected.
func fallback(eps []Endpoint, i int) int {
	n := len(eps)
	for k := 1; k < n; k++ {
		j := i + k
		if j >= n {
			j -= n
		}
		if ok, _ := eps[j].Stats.usable(); ok {
			return j
		}
	}
	return i
}

// checked returns i if it is usable and a fallback otherwise.
func checked(eps []Endpoint, i int) int {
	if ok, _ := eps[i].Stats.usable(); ok {
		return i
	}
	return fallback(eps, i)
}

// fastRange maps 32 random bits onto [0, n) without division.
func fastRange(r uint32, n int) int { return int(uint64(r) * uint64(n) >> 32) }
