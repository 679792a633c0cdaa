package backoff

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestDelayStaysWithinHalfAndWholeOfTheCappedExponential(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	for attempt, want := range []time.Duration{10, 20, 40, 80, 80, 80} {
		want *= time.Millisecond
		for range 100 {
			if d := p.Delay(attempt); d < want/2 || d > want {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

func TestSleepReturnsFalseWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a cancelled context reported a full wait")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep of 1ms did not report a full wait")
	}
}

func TestMaxTriesCountsTheShortestDelaysWithinADuration(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		d    time.Duration
		want int
	}{
		// Shortest delays 50, 100, 200, 400 ms: the fifth try starts at 750 ms at the
		// earliest.
		{Default, time.Second, 5},
		{Default, 0, 1},
		// Capped at 80 ms: tries start at 0, 5, 15, 35, 75, 115 and 155 ms at the earliest.
		{Policy{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}, 155 * time.Millisecond, 7},
		{Policy{}, time.Second, math.MaxInt},
	} {
		if got := c.p.MaxTries(c.d); got != c.want {
			t.Errorf("%+v.MaxTries(%v) = %d, want %d", c.p, c.d, got, c.want)
		}
	}
}
