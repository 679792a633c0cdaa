package pick

import "time"

// alias is Vose's alias table: pick a column uniformly, then keep it or take its alias by a
// biased coin. Two random draws' worth of bits, no search, whatever the weights.
type alias struct {
	keep  []uint64 // keep column i when 32 random bits fall below keep[i] (1<<32 = always)
	other []int32
}

func newAlias(eps []Endpoint) alias {
	n := len(eps)
	total := 0.0
	for i := range eps {
		total += float64(eps[i].weight())
	}
	scaled := make([]float64, n)
	var small, large []int
	for i := range eps {
		scaled[i] = float64(eps[i].weight()) * float64(n) / total
		if scaled[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	a := alias{keep: make([]uint64, n), other: make([]int32, n)}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.keep[s] = uint64(scaled[s] * (1 << 32))
		a.other[s] = int32(l)
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is 1 up to rounding: always keep.
	for _, i := range append(small, large...) {
		a.keep[i] = 1 << 32
		a.other[i] = int32(i)
	}
	return a
}

func (a *alias) pick(r uint64) int {
	i := fastRange(uint32(r), len(a.keep))
	if r>>32 < a.keep[i] {
		return i
	}
	return int(a.other[i])
}

type random struct {
	eps   []Endpoint
	table alias
	rand  func() uint64
}

func newRandom(eps []Endpoint, o *options) *random {
	return &random{eps: eps, table: newAlias(eps), rand: o.rand}
}

func (r *random) Pick(uint64, time.Duration) int {
	return checked(r.eps, r.table.pick(r.rand()))
}
