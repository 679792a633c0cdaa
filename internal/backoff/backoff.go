// Package backoff computes capped exponential delays with jitter for the retry loops of
// registry backends and clients, and sleeps them without outliving a stop signal.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is a capped exponential backoff with full jitter: attempt n waits a random duration
// in [d/2, d], where d = min(Base * 2^n, Max). Keeping half of d avoids the retry storms that
// zero-based full jitter allows when many clients lose a server at once.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Default is the policy Tianshu's registry backends use: 100 ms up to 10 s.
var Default = Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second}

// Delay returns the wait before retry number attempt (0 for the first retry).
func (p Policy) Delay(attempt int) time.Duration {
	d := p.capped(attempt)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func (p Policy) capped(attempt int) time.Duration {
	d := p.Base
	for i := 0; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// MaxTries returns the most attempts a loop that sleeps Delay(0), Delay(1), ... between
// them can start within d: the first at once, each later one after the shortest delay the
// jitter allows. Tests that check a retry loop does not spin bound their counts with it.
// A policy whose delays can be zero bounds nothing: MaxTries returns math.MaxInt.
func (p Policy) MaxTries(d time.Duration) int {
	var elapsed time.Duration
	for n := 1; ; n++ {
		step := p.capped(n-1) / 2
		if step <= 0 {
			return math.MaxInt
		}
		if elapsed += step; elapsed > d {
			return n
		}
	}
}

// Sleep waits d or until ctx is done, and reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
