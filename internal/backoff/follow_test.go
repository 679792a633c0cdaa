package backoff

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	errBroken = errors.New("broken")
	errEnded  = errors.New("ended")
	errFatal  = errors.New("fatal")
)

// stream is a Stream whose Next is scripted; Next blocks when next is nil, until Stop.
type stream struct {
	next  func() (int, error)
	calls atomic.Int64
	once  sync.Once
	done  chan struct{}
}

func newStream(next func() (int, error)) *stream {
	return &stream{next: next, done: make(chan struct{})}
}

func (s *stream) Next() (int, error) {
	s.calls.Add(1)
	select {
	case <-s.done:
		return 0, errEnded
	default:
	}
	if s.next == nil {
		<-s.done
		return 0, errEnded
	}
	return s.next()
}

func (s *stream) Stop() error { s.once.Do(func() { close(s.done) }); return nil }

func (s *stream) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// run follows for d (or until Follow returns) and returns how long it ran.
func run(t *testing.T, f Follower[int], d time.Duration) time.Duration {
	t.Helper()
	if f.Value == nil {
		f.Value = func(int) {}
	}
	if f.Error == nil {
		f.Error = func(error) bool { return true }
	}
	f.Ended = func(err error) bool { return errors.Is(err, errEnded) }
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() { f.Follow(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(d + 10*time.Second):
		t.Fatal("Follow did not return within 10 s of its context's end")
	}
	return time.Since(start)
}

func TestFollowRetriesAStreamWhoseNextFailsAtOnceAtThePolicysPaceNotInALoop(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	s := newStream(func() (int, error) { return 0, errBroken })
	var errs atomic.Int64
	took := run(t, Follower[int]{
		Policy: p,
		Open:   func(context.Context) (Stream[int], error) { return s, nil },
		Error:  func(error) bool { errs.Add(1); return true },
	}, 500*time.Millisecond)
	if n, most := s.calls.Load(), p.MaxTries(took); n > int64(most) || n < 2 {
		t.Errorf("Next was called %d times in %v; the policy allows 2 to %d", n, took, most)
	}
	if errs.Load() != s.calls.Load() {
		t.Errorf("Error saw %d errors of %d calls of Next", errs.Load(), s.calls.Load())
	}
	if !s.stopped() {
		t.Error("the stream was not stopped when Follow returned")
	}
}

func TestFollowRetriesAFailingOpenAtThePolicysPace(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	var opens atomic.Int64
	took := run(t, Follower[int]{
		Policy: p,
		Open: func(context.Context) (Stream[int], error) {
			opens.Add(1)
			return nil, errBroken
		},
	}, 500*time.Millisecond)
	if n, most := opens.Load(), p.MaxTries(took); n > int64(most) || n < 2 {
		t.Errorf("Open was called %d times in %v; the policy allows 2 to %d", n, took, most)
	}
}

func TestFollowWaitsBeforeReopeningAStreamThatEndsAtOnce(t *testing.T) {
	p := Policy{Base: 20 * time.Millisecond, Max: time.Second}
	var opens, values atomic.Int64
	took := run(t, Follower[int]{
		Policy: p,
		Open: func(context.Context) (Stream[int], error) {
			opens.Add(1)
			first := true
			return newStream(func() (int, error) {
				if first {
					first = false
					return 1, nil
				}
				return 0, errEnded
			}), nil
		},
		Value: func(int) { values.Add(1) },
	}, 500*time.Millisecond)
	// Each stream delivers a value, which starts the delays again from the first: at most
	// one stream per shortest first delay.
	if n, most := opens.Load(), int64(took/(p.Base/2))+1; n > most || n < 2 {
		t.Errorf("Open was called %d times in %v; want 2 to %d", n, took, most)
	}
	if values.Load() != opens.Load() {
		t.Errorf("%d values from %d streams, want one each", values.Load(), opens.Load())
	}
}

func TestFollowEndsWhenErrorSaysSoAndStopsTheStream(t *testing.T) {
	s := newStream(func() (int, error) { return 0, errFatal })
	took := run(t, Follower[int]{
		Policy: Policy{Base: time.Hour, Max: time.Hour},
		Open:   func(context.Context) (Stream[int], error) { return s, nil },
		Error:  func(err error) bool { return !errors.Is(err, errFatal) },
	}, time.Minute)
	if took > 30*time.Second {
		t.Errorf("Follow ran %v after an error it was told not to retry", took)
	}
	if s.calls.Load() != 1 || !s.stopped() {
		t.Errorf("Next called %d times, stopped %v; want once, stopped", s.calls.Load(), s.stopped())
	}
}

func TestFollowStopsABlockedStreamWhenItsContextEnds(t *testing.T) {
	s := newStream(nil)
	var values atomic.Int64
	run(t, Follower[int]{
		Policy: Default,
		Open:   func(context.Context) (Stream[int], error) { return s, nil },
		Value:  func(int) { values.Add(1) },
	}, 100*time.Millisecond)
	if !s.stopped() || values.Load() != 0 {
		t.Errorf("stopped %v, %d values; want stopped, none", s.stopped(), values.Load())
	}
}
