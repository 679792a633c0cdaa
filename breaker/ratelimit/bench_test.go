package ratelimit

import (
	"sync"
	"testing"
)

// go test -run '^$' -bench . -benchmem -benchtime=1s -count=3 ./ratelimit/

// BenchmarkBaselineMutex is the floor a locked limiter cannot go under: one uncontended lock
// and unlock.
func BenchmarkBaselineMutex(b *testing.B) {
	var mu sync.Mutex
	for b.Loop() {
		mu.Lock()
		mu.Unlock() //nolint:staticcheck // the empty critical section is the point
	}
}

func BenchmarkTokenBucket(b *testing.B) {
	tb, err := NewTokenBucket(1e12, 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		done, _ := tb.Allow()
		done()
	}
}

func BenchmarkAdaptive(b *testing.B) {
	a, err := NewAdaptive()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		done, _ := a.Allow()
		done()
	}
}
