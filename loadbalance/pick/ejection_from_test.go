package pick

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestEjectionFromChangesWhileTheStatsLive(t *testing.T) {
	type th struct {
		failures int
		base     time.Duration
		ok       bool
	}
	var cur atomic.Pointer[th]
	cur.Store(&th{failures: 4, ok: true})
	var now time.Duration
	s := NewStats(WithClock(func() time.Duration { return now }),
		WithEjectionFrom(func() (int, time.Duration, time.Duration, bool) {
			c := cur.Load()
			return c.failures, c.base, 0, c.ok
		}))
	fail := func(n int) {
		for range n {
			s.Begin()
			s.End(Unreachable)
		}
	}
	fail(3)
	if s.Ejected() {
		t.Fatal("ejected after 3 failures with failures 4")
	}
	fail(1)
	if !s.Ejected() {
		t.Fatal("not ejected after 4 failures with failures 4")
	}
	s.Begin()
	s.End(Success)

	cur.Store(&th{failures: 0, ok: true}) // off
	fail(50)
	if s.Ejected() {
		t.Fatal("ejected with failures 0 (ejection off)")
	}

	cur.Store(&th{ok: false}) // the static thresholds: DefaultEjectAfter
	fail(DefaultEjectAfter)
	if !s.Ejected() {
		t.Fatalf("not ejected after %d failures with the default thresholds", DefaultEjectAfter)
	}
	if ok, _ := s.usable(); ok {
		t.Fatal("usable at once after ejection")
	}
	now += DefaultEjectBase
	if ok, probe := s.usable(); !ok || !probe {
		t.Fatal("no probe after the default base")
	}
	// Turning ejection off lets an ejected endpoint back at once.
	fail(1)
	cur.Store(&th{failures: 0, ok: true})
	if ok, _ := s.usable(); !ok {
		t.Fatal("an ejected endpoint stays out with ejection off")
	}
}
