package rulespolicy

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/rules"
)

// spend withdraws from b until it refuses, and returns how many retries it allowed.
func spend(b interface{ Withdraw() bool }) int {
	n := 0
	for b.Withdraw() && n < 1000 {
		n++
	}
	return n
}

func TestBudget(t *testing.T) {
	if n := spend(Budget(0)); n != 10 {
		t.Errorf("share 0 (retry.DefaultBudget): %d retries saved up, want 10", n)
	}
	b := Budget(0.5)
	if n := spend(b); n != BudgetBurst {
		t.Errorf("share 0.5: %d retries saved up, want %d", n, BudgetBurst)
	}
	for range 4 {
		b.Deposit()
	}
	if n := spend(b); n != 2 {
		t.Errorf("share 0.5 after 4 calls: %d retries, want 2", n)
	}
}

func TestCircuitOptions(t *testing.T) {
	c, err := breaker.NewCircuit("x", CircuitOptions(rules.Breaker{FailureRatio: 0.5, MinRequests: 4, Window: time.Minute, SleepWindow: time.Hour})...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 4 {
		done, err := c.Allow()
		if err != nil {
			t.Fatalf("call %d refused before minRequests: %v", i, err)
		}
		done(false)
	}
	if _, err := c.Allow(); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("after 4 failures of 4 at minRequests 4: %v, want breaker.ErrOpen", err)
	}
	// Zero fields keep the circuit's defaults, which NewCircuit accepts; so does a window
	// shorter than ten buckets of 1ns.
	for _, b := range []rules.Breaker{{FailureRatio: 1}, {FailureRatio: 1, Window: 3}} {
		c, err := breaker.NewCircuit("y", CircuitOptions(b)...)
		if err != nil {
			t.Fatalf("%+v: %v", b, err)
		}
		c.Close()
	}
}

func TestCacheKeepsWhileCurrentAndRebuilds(t *testing.T) {
	type v struct{ rule, gen int }
	var c Cache[v]
	builds := 0
	get := func(rule int) *v {
		return c.Get("k", func(cur *v) bool { return cur.rule == rule }, func(old *v) *v {
			builds++
			gen := 0
			if old != nil {
				gen = old.gen + 1
			}
			return &v{rule: rule, gen: gen}
		})
	}
	a := get(1)
	if b := get(1); b != a || builds != 1 {
		t.Fatalf("same rule: got a new value (%d builds)", builds)
	}
	if b := get(2); b == a || b.gen != 1 || builds != 2 {
		t.Fatalf("new rule: got %+v after %d builds, want a value built from the old one", b, builds)
	}
	// Concurrent first gets agree on one value.
	var c2 Cache[v]
	var wg sync.WaitGroup
	got := make([]*v, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = c2.Get("k", func(*v) bool { return true }, func(*v) *v { return &v{} })
		}()
	}
	wg.Wait()
	for _, g := range got[1:] {
		if g != got[0] {
			t.Fatal("concurrent gets returned different values")
		}
	}
}
