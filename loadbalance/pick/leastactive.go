package pick

import "time"

type leastActive struct {
	eps  []Endpoint
	rand func() uint64
}

func newLeastActive(eps []Endpoint, o *options) *leastActive {
	return &leastActive{eps: eps, rand: o.rand}
}

// Pick scans twice instead of collecting the tied endpoints, so that it allocates nothing;
// a count that moves between the scans only makes the tie-break a little less exact.
func (la *leastActive) Pick(uint64, time.Duration) int {
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
