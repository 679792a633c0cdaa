package pick

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkPick measures one pick per algorithm at 10, 100 and 1,000 endpoints of mixed
// weights. The baseline is the cheapest possible balancer, an atomic counter modulo n
// (what grpc's round_robin picker does).
//
//	go test -run '^$' -bench Pick -benchmem -benchtime=1s -count=3 ./loadbalance/pick/
func BenchmarkPick(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		ws := make([]int, n)
		for i := range ws {
			ws[i] = 50 + 50*(i%3)
		}
		b.Run(fmt.Sprintf("baseline_counter/n=%d", n), func(b *testing.B) {
			var next atomic.Uint32
			eps := weighted(ws...)
			b.ReportAllocs()
			sink := 0
			for b.Loop() {
				sink += len(eps[int(next.Add(1))%n].Key)
			}
			_ = sink
		})
		for _, alg := range allAlgorithms {
			b.Run(fmt.Sprintf("%v/n=%d", alg, n), func(b *testing.B) {
				eps := weighted(ws...)
				p, err := New(alg, eps)
				if err != nil {
					b.Fatal(err)
				}
				key := HashKey("user-42")
				now := MonotonicClock()
				b.ReportAllocs()
				for b.Loop() {
					key += 0x9e3779b97f4a7c15
					p.Pick(key, now)
				}
			})
		}
	}
}

// BenchmarkCallFigures measures what a P2C call does to its endpoints' figures (pick, Begin,
// EndTimed) on two endpoints, from every core at once. Each core writes the figures the
// other just wrote, so -cpu 1,2 shows what sharing them across cores costs a call:
//
//	go test -run '^$' -bench CallFigures -cpu 1,2 -count 3 ./loadbalance/pick/
func BenchmarkCallFigures(b *testing.B) {
	eps := weighted(100, 100)
	p, err := New(AlgP2C, eps)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := MonotonicClock()
			st := eps[p.Pick(0, start)].Stats
			st.Begin()
			st.EndTimed(Success, start)
		}
	})
}
