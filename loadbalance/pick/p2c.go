package pick

import (
	"math"
	"time"
)

// unknownCost stands for the latency of an endpoint with none measured yet, once it has calls
// in flight or failures: more than any measured one, so a new endpoint gets one call at a
// time until its first answer (Finagle's penalty).
const unknownCost = 1e18

type p2c struct {
	eps        []Endpoint
	table      alias
	rand       func() uint64
	probeAfter time.Duration
}

func newP2C(eps []Endpoint, o *options) *p2c {
	return &p2c{eps: eps, table: newAlias(eps), rand: o.rand, probeAfter: o.probeAfter}
}

// Pick draws both candidates by weight, so that equal endpoints share traffic by weight; the
// cost then moves traffic away from slow, busy or failing ones.
func (p *p2c) Pick(_ uint64, now time.Duration) int {
	if len(p.eps) == 1 {
		return 0
	}
	a := p.table.pick(p.rand())
	b := p.table.pick(p.rand())
	if a == b {
		// Still a choice of two: take the next endpoint.
		if b++; b == len(p.eps) {
			b = 0
		}
	}
	sa, sb := p.eps[a].Stats, p.eps[b].Stats
	okA, probeA := sa.usable()
	okB, probeB := sb.usable()
	switch {
	case probeA:
		return p.chose(a, now)
	case probeB:
		return p.chose(b, now)
	case !okA && !okB:
		return p.chose(fallback(p.eps, a), now)
	case !okA:
		return p.chose(b, now)
	case !okB:
		return p.chose(a, now)
	}
	// An endpoint left alone for probeAfter gets one call, whatever its record: it may
	// have recovered. The swap lets one caller through.
	if pa := sa.picked.Load(); now-time.Duration(pa) > p.probeAfter && sa.picked.CompareAndSwap(pa, int64(now)) {
		return a
	}
	if pb := sb.picked.Load(); now-time.Duration(pb) > p.probeAfter && sb.picked.CompareAndSwap(pb, int64(now)) {
		return b
	}
	if cost(sb) < cost(sa) {
		return p.chose(b, now)
	}
	return p.chose(a, now)
}

// chose records the pick time, skipping the store when another pick already wrote a
// reading this recent, so that concurrent picks do not fight over the cache line.
func (p *p2c) chose(i int, now time.Duration) int {
	st := p.eps[i].Stats
	if time.Duration(st.picked.Load()) < now-time.Millisecond {
		st.picked.Store(int64(now))
	}
	return i
}

func cost(s *Stats) float64 {
	lat := math.Float64frombits(s.latency.Load())
	n := float64(s.inflight.Load())
	succ := max(math.Float64frombits(s.success.Load()), 0.01)
	if lat == 0 {
		if n == 0 && succ == 1 {
			return 0
		}
		lat = unknownCost
	}
	return lat * (n + 1) / (succ * succ)
}
