package breaker

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestGroupMakesOneBreakerPerKey(t *testing.T) {
	g := newTestGroup(t, nil)
	a1, err := g.Get("a")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := g.Get("a")
	b, _ := g.Get("b")
	if a1 != a2 || a1 == b {
		t.Fatal("Get must return the same breaker for a key and different ones for different keys")
	}
	if s := g.Stats(); len(s) != 2 || s[0].Name != "a" || s[1].Name != "b" {
		t.Fatalf("stats = %+v, want a and b in order", s)
	}
}

func TestNewGroupReportsABadFactory(t *testing.T) {
	_, err := NewGroup(CircuitFactory(WithFailureRatio(2)))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
}

func TestClosedGroupRefusesNewKeysButKeepsOldBreakersWorking(t *testing.T) {
	g, err := NewGroup(nil)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := g.Get("old")
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Get("new"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if !call(old, true) {
		t.Fatal("a breaker handed out before Close stopped working")
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCoarseClockAdvancesAndStopsItsGoroutineOnClose(t *testing.T) {
	c := NewCoarseClock(time.Millisecond)
	start := c.Now()
	deadline := time.Now().Add(10 * time.Second)
	for c.Now() == start {
		if time.Now().After(deadline) {
			t.Fatal("clock did not move in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	goleak.VerifyNone(t)
	before := c.Now()
	time.Sleep(2 * time.Millisecond)
	if c.Now() <= before {
		t.Fatal("a closed clock must keep telling the time")
	}
}

func TestBreakersStopTheirOwnClocksOnClose(t *testing.T) {
	a, err := NewAdaptive("a")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCircuit("c")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	c.Close()
	goleak.VerifyNone(t)
}
