package pick

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxCycleWork bounds the work of precomputing a round-robin cycle (cycle length x
// endpoints); past it the cycle is computed live under a lock, O(n) per pick.
const maxCycleWork = 1 << 22

// swrr is the state of Nginx's smooth weighted round robin: each round every endpoint's
// current value grows by its weight, the largest wins and loses the total.
type swrr struct {
	weight, current []int64
	total           int64
}

func newSWRR(eps []Endpoint, scale int64) *swrr {
	s := &swrr{weight: make([]int64, len(eps)), current: make([]int64, len(eps))}
	for i := range eps {
		s.weight[i] = int64(eps[i].weight()) / scale
		s.total += s.weight[i]
	}
	return s
}

func (s *swrr) next() int {
	best := 0
	for i, w := range s.weight {
		s.current[i] += w
		if s.current[i] > s.current[best] {
			best = i
		}
	}
	s.current[best] -= s.total
	return best
}

// roundRobin serves the smooth sequence from a precomputed cycle when the cycle is short
// enough, which makes a pick one atomic add; the sequence repeats after total/gcd picks.
type roundRobin struct {
	eps   []Endpoint
	cycle []int32
	next  atomic.Uint64

	mu   sync.Mutex
	live *swrr
}

func newRoundRobin(eps []Endpoint) *roundRobin {
	g := int64(0)
	for i := range eps {
		g = gcd(g, int64(eps[i].weight()))
	}
	s := newSWRR(eps, g)
	rr := &roundRobin{eps: eps}
	if s.total*int64(len(eps)) > maxCycleWork {
		rr.live = s
		return rr
	}
	rr.cycle = make([]int32, s.total)
	for k := range rr.cycle {
		rr.cycle[k] = int32(s.next())
	}
	return rr
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func (rr *roundRobin) Pick(uint64, time.Duration) int {
	var i int
	if rr.cycle != nil {
		k := rr.next.Add(1) - 1
		i = int(rr.cycle[k%uint64(len(rr.cycle))])
	} else {
		rr.mu.Lock()
		i = rr.live.next()
		rr.mu.Unlock()
	}
	return checked(rr.eps, i)
}
