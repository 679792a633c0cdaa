package stripe

import (
	"runtime"
	"sync"
	"testing"
)

func TestCountIsAPowerOfTwoCoveringTheProcessors(t *testing.T) {
	for _, procs := range []int{1, 2, 3, 8, 9, 64} {
		old := runtime.GOMAXPROCS(procs)
		n := Count()
		runtime.GOMAXPROCS(old)
		want := 1
		for want < procs && want < maxStripes {
			want <<= 1
		}
		if n != want {
			t.Errorf("GOMAXPROCS=%d: %d stripes, want %d", procs, n, want)
		}
	}
}

func TestIndexStaysWithinTheStripes(t *testing.T) {
	for _, n := range []int{1, 2, 4, 16} {
		for range 100 {
			if i := Index(n); i < 0 || i >= n {
				t.Fatalf("Index(%d) = %d", n, i)
			}
		}
	}
}

func TestConcurrentAddsAreAllCounted(t *testing.T) {
	c := NewInt64()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10000 {
				c.Add(3)
				c.Add(-1)
			}
		})
	}
	wg.Wait()
	if got := c.Load(); got != 8*10000*2 {
		t.Fatalf("Load() = %d, want %d", got, 8*10000*2)
	}
}

func TestStrideFillsWholeLines(t *testing.T) {
	for w, want := range map[int]int{1: 8, 8: 8, 9: 16, 16: 16, 17: 24} {
		if got := Stride(w); got != want {
			t.Errorf("Stride(%d) = %d, want %d", w, got, want)
		}
	}
}

// BenchmarkAdd compares one shared counter with a striped one, every goroutine adding:
// the shared line moves between cores on each add.
//
//	go test -run '^$' -bench . -cpu 1,2 ./internal/stripe/
func BenchmarkAdd(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		var c cell
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.v.Add(1)
			}
		})
	})
	b.Run("striped", func(b *testing.B) {
		c := NewInt64()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Add(1)
			}
		})
	})
}
