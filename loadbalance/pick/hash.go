package pick

import (
	"cmp"
	"slices"
	"time"
)

// HashKey hashes a consistent-hash key (a user ID, a session, an order number) to the value
// Picker.Pick takes. It is FNV-1a followed by a finaliser that spreads nearby keys over the
// whole ring, and allocates nothing.
func HashKey(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return mix(h)
}

// mix is SplitMix64's finaliser.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

type point struct {
	hash  uint64
	owner int32
}

type ring struct {
	eps    []Endpoint
	points []point
	// start[b] is the first point whose hash has top bits >= b: a lookup jumps to about
	// the right place, and a search finishes over a handful of points, not the whole ring.
	start []int32
	shift uint
}

// newRing gives each endpoint virtualNodes points scaled by its weight over the mean
// weight. The points depend only on the key and the index of the virtual node, and ties
// are broken by key, so the ring is the same whatever the order of eps.
func newRing(eps []Endpoint, o *options) *ring {
	total := 0
	for i := range eps {
		total += eps[i].weight()
	}
	mean := float64(total) / float64(len(eps))
	r := &ring{eps: eps}
	for i := range eps {
		n := max(1, int(float64(o.virtualNodes)*float64(eps[i].weight())/mean+0.5))
		base := HashKey(eps[i].Key)
		for v := range n {
			r.points = append(r.points, point{hash: mix(base + uint64(v+1)*0x9e3779b97f4a7c15), owner: int32(i)})
		}
	}
	slices.SortFunc(r.points, func(a, b point) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(eps[a.owner].Key, eps[b.owner].Key)
	})
	bits := uint(1)
	for 1<<bits < len(r.points) {
		bits++
	}
	r.shift = 64 - bits
	r.start = make([]int32, 1<<bits+1)
	p := 0
	for b := range r.start {
		for p < len(r.points) && r.points[p].hash>>r.shift < uint64(b) {
			p++
		}
		r.start[b] = int32(p)
	}
	return r
}

// Pick returns the owner of the first point at or after key, walking on past ejected
// endpoints so that their keys spread over the next ones rather than all landing on one.
func (r *ring) Pick(key uint64, _ time.Duration) int {
	pts := r.points
	b := key >> r.shift
	lo, hi := int(r.start[b]), int(r.start[b+1])
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if pts[m].hash < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(pts) {
		lo = 0
	}
	first := int(pts[lo].owner)
	if ok, _ := r.eps[first].Stats.usable(); ok {
		return first
	}
	for k := 1; k < len(pts); k++ {
		j := lo + k
		if j >= len(pts) {
			j -= len(pts)
		}
		if o := int(pts[j].owner); o != first {
			if ok, _ := r.eps[o].Stats.usable(); ok {
				return o
			}
		}
	}
	return first
}
