package pick

import "time"

// Least active scans every endpoint up to exactLeastActive of them, as Dubbo's leastactive
// does. Above that, an exact scan reads two counters on a separate cache line per endpoint
// (about 5 us per pick at 1,000 endpoints here), so it takes the least active of
// leastActiveSamples endpoints drawn by weight instead: the power-of-d-choices result that
// a few samples already find an endpoint among the least loaded, in O(1).
const (
	exactLeastActive   = 32
	leastActiveSamples = 4
)

// splitmix64 derives the next sample's bits from one random draw: a draw from the runtime
// source costs more than the rest of a sample.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

type leastActive struct {
	eps   []Endpoint
	rand  func() uint64
	table alias // weighted draws, for sampling above exactLeastActive
}

func newLeastActive(eps []Endpoint, o *options) *leastActive {
	la := &leastActive{eps: eps, rand: o.rand}
	if len(eps) > exactLeastActive {
		la.table = newAlias(eps)
	}
	return la
}

func (la *leastActive) Pick(uint64, time.Duration) int {
	if len(la.eps) > exactLeastActive {
		return la.sampled()
	}
	return la.exact()
}

// sampled draws endpoints by weight and keeps the one with the fewest calls in flight; on a
// tie the first drawn wins, which is itself a weighted draw, so idle fleets still follow the
// weights. An ejected draw is skipped unless it is due for a probe.
func (la *leastActive) sampled() int {
	best, least := -1, int64(0)
	r := la.rand()
	for range leastActiveSamples {
		i := la.table.pick(r)
		r = splitmix64(r)
		st := la.eps[i].Stats
		if st.ejected.Load() {
			ok, probe := st.usable()
			if probe {
				return i
			}
			if !ok {
				continue
			}
		}
		if n := st.inflight.Load(); best < 0 || n < least {
			best, least = i, n
		}
	}
	if best < 0 {
		return checked(la.eps, la.table.pick(la.rand()))
	}
	return best
}

// exact scans twice instead of collecting the tied endpoints, so that it allocates nothing;
// a count that moves between the scans only makes the tie-break a little less exact.
func (la *leastActive) exact() int {
	least, first, total := int64(-1), -1, 0
	for i := range la.eps {
		st := la.eps[i].Stats
		if !st.ejected.Load() {
			// Healthy: the common case, without the probe bookkeeping.
		} else if ok, probe := st.usable(); probe {
			return i
		} else if !ok {
			continue
		}
		n := st.inflight.Load()
		switch {
		case least < 0 || n < least:
			least, first, total = n, i, la.eps[i].weight()
		case n == least:
			total += la.eps[i].weight()
		}
	}
	if first < 0 {
		return 0 // all ejected and none due for a probe
	}
	if total == la.eps[first].weight() {
		return first
	}
	r := fastRange(uint32(la.rand()), total)
	for i := first; i < len(la.eps); i++ {
		if la.eps[i].Stats.ejected.Load() || la.eps[i].Stats.inflight.Load() != least {
			continue
		}
		if r -= la.eps[i].weight(); r < 0 {
			return i
		}
	}
	return first
}
