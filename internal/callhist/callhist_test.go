package callhist

import (
	"fmt"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

func TestConcurrentRecordsAreAllCounted(t *testing.T) {
	var st Store
	bounds := []float64{1, 2}
	s := st.Instrument(Desc{Name: "d", Bounds: bounds}).Series(attribute.NewSet())
	const goroutines, each = 8, 5000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				v := float64((g+i)%3) + 0.5 // 0.5, 1.5, 2.5: one per bucket
				s.Record(v, Bucket(bounds, v))
			}
		})
	}
	wg.Wait()
	r := s.Read()
	if r.Count != goroutines*each {
		t.Fatalf("count %d, want %d", r.Count, goroutines*each)
	}
	var sum float64
	for g := range goroutines {
		for i := range each {
			sum += float64((g+i)%3) + 0.5
		}
	}
	if r.Sum != sum || r.Min != 0.5 || r.Max != 2.5 {
		t.Errorf("sum %v min %v max %v, want %v, 0.5, 2.5", r.Sum, r.Min, r.Max, sum)
	}
	for i, n := range r.BucketCounts {
		if n < goroutines*each/3 || n > goroutines*each/3+goroutines {
			t.Errorf("bucket %d holds %d of %d", i, n, goroutines*each)
		}
	}
}

func TestSeriesPastTheLimitShareTheOverflowSeries(t *testing.T) {
	var st Store
	in := st.Instrument(Desc{Name: "d", Bounds: []float64{1}})
	for i := range MaxSeries {
		in.Series(attribute.NewSet(attribute.Int("i", i)))
	}
	a := in.Series(attribute.NewSet(attribute.String("late", "a")))
	b := in.Series(attribute.NewSet(attribute.String("late", "b")))
	if a != b || a.Attributes() != overflowSet() {
		t.Fatalf("series past the limit: %v and %v, want one series %v", a.Attributes(), b.Attributes(), overflowSet())
	}
	if again := in.Series(attribute.NewSet(attribute.Int("i", 7))); again.Attributes() != attribute.NewSet(attribute.Int("i", 7)) {
		t.Errorf("a series made before the limit is lost: got %v", again.Attributes())
	}
	if n := len(in.All()); n != MaxSeries+1 {
		t.Errorf("%d series, want %d and the overflow", n, MaxSeries)
	}
}

func TestAnInstrumentIsMadeOncePerScopeAndName(t *testing.T) {
	var st Store
	a := st.Instrument(Desc{Scope: "s", Name: "d"})
	if b := st.Instrument(Desc{Scope: "s", Name: "d"}); a != b {
		t.Error("the same scope and name made two instruments")
	}
	if c := st.Instrument(Desc{Scope: "t", Name: "d"}); a == c {
		t.Error("another scope shares the instrument")
	}
	if n := len(st.Instruments()); n != 2 {
		t.Errorf("%d instruments, want 2", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	var st Store
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
	s := st.Instrument(Desc{Name: "d", Bounds: bounds}).Series(attribute.NewSet(attribute.String("k", fmt.Sprint(1))))
	b.Run("sequential", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Record(0.00004, Bucket(bounds, 0.00004))
		}
	})
	// Every goroutine on one series: each adds to the stripe of its P (package stripe),
	// where one sum and one set of counts moved between cores on every record.
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Record(0.00004, Bucket(bounds, 0.00004))
			}
		})
	})
}
