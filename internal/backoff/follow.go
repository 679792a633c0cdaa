package backoff

import "context"

// Stream is what a Follower reads: a registry watch, for one. Next may block until there
// is something to return; Stop ends the stream, unblocks a pending Next, may be called
// from another goroutine than Next and more than once.
type Stream[T any] interface {
	Next() (T, error)
	Stop() error
}

// Follower keeps a stream open and reads it for as long as its context lives: it opens a
// stream, hands each value to Value, and when opening fails, Next fails or the stream ends,
// it waits a delay of Policy before trying again. The delays grow with every failure in a
// row and start again from the first after a value arrives, so that a source that fails at
// once (a backend that is down, a watch that breaks as soon as it is made) is retried at a
// bounded rate instead of in a loop that spins a CPU.
//
// registry.Failover and the rpc resolver both follow registry watches with it: one loop, so
// that a fix to it reaches both.
type Follower[T any] struct {
	Policy Policy
	// Open starts a stream. Its error is passed to Error, then Open is called again after
	// a delay. ctx is Follow's.
	Open func(ctx context.Context) (Stream[T], error)
	// Value receives each value the stream returns.
	Value func(T)
	// Error receives every error of Open and of Next that is not an end of the stream, and
	// says whether to go on: false ends Follow, for an error that retrying cannot cure
	// (a closed registry, say). After an error of Next the same stream is read again.
	Error func(err error) (retry bool)
	// Ended says whether an error of Next means the stream has ended, so that Follow opens
	// another one (after a delay) instead of reading this one again. Such errors do not
	// reach Error.
	Ended func(err error) bool
}

// Follow runs until ctx ends or Error returns false. Every stream it opened is stopped
// when it returns, and nothing it started outlives it. Value and Error are called from
// Follow's goroutine, so once Follow has returned neither runs any more.
func (f Follower[T]) Follow(ctx context.Context) {
	attempt := 0
	wait := func() bool {
		d := f.Policy.Delay(attempt)
		attempt++
		return Sleep(ctx, d)
	}
	for ctx.Err() == nil {
		s, err := f.Open(ctx)
		if err != nil {
			if ctx.Err() != nil || !f.Error(err) || !wait() {
				return
			}
			continue
		}
		if !f.read(ctx, s, &attempt, wait) || !wait() {
			return
		}
	}
}

// read reads s until it ends, and reports whether Follow should open another stream.
func (f Follower[T]) read(ctx context.Context, s Stream[T], attempt *int, wait func() bool) bool {
	// Stop unblocks Next when ctx ends; ctx may already be over, in which case it runs at
	// once. Either way s is stopped, and the goroutine of AfterFunc ended, before read
	// returns.
	stopped := make(chan struct{})
	unhook := context.AfterFunc(ctx, func() { _ = s.Stop(); close(stopped) })
	defer func() {
		if unhook() {
			_ = s.Stop()
		} else {
			<-stopped
		}
	}()
	for {
		v, err := s.Next()
		switch {
		case ctx.Err() != nil:
			return false
		case err == nil:
			*attempt = 0
			f.Value(v)
		case f.Ended(err):
			return true
		case !f.Error(err) || !wait():
			return false
		}
	}
}
