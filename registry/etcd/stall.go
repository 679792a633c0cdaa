package etcd

import (
	"context"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
)

// canaryTTL is the TTL, in seconds, of the lease a watching Registry keeps alive only to
// notice that etcd stopped answering: etcd's minimum with its default election settings
// (1.5 times the election timeout, rounded up), and shorter than providers' leases, so that
// a stall (a paused or isolated server) long enough to expire them has first closed the
// canary's keep-alive channel on the client. The keep-alive costs a message every 0.7 s.
const canaryTTL = 2

// canary runs from a Registry's first Watch until Close. While its lease is lost, and for
// holdWindow after it is back, watches keep the instances whose keys were deleted: after a
// stall etcd expires the leases of every provider at once and deletes their keys, and each
// provider puts them back under a new lease within a moment, but a consumer that published
// the deletions meanwhile would publish a short or empty list while it reports itself
// healthy, which registry.Failover does not hold back.
func (r *Registry) canary() {
	defer r.bg.Done()
	lost, attempt := false, 0
	retry := func() bool {
		attempt++
		return backoff.Sleep(r.ctx, r.opts.retry.Delay(attempt-1))
	}
	for r.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.dialTimeout)
		g, err := r.cli.Grant(ctx, canaryTTL)
		cancel()
		if err != nil {
			if !retry() {
				return
			}
			continue
		}
		kctx, kcancel := context.WithCancel(r.ctx)
		ch, err := r.cli.KeepAlive(kctx, g.ID)
		if err != nil {
			kcancel()
			if !retry() {
				return
			}
			continue
		}
		attempt = 0
		if lost {
			r.setStalled(false)
			lost = false
		}
		for range ch {
			// The channel closes when the keep-alive went unanswered for the TTL, the
			// lease is gone, or the Registry closes.
		}
		kcancel()
		if r.ctx.Err() != nil {
			return
		}
		r.setStalled(true)
		lost = true
	}
}

// holdWindow is how long after a stall the watches keep deleted instances: providers with
// this Registry's settings have noticed the loss of their lease during the stall and put
// their instances back at their next attempt, at most a retry delay after etcd answers
// again; the TTL, when longer, leaves room for providers with a longer TTL.
func (r *Registry) holdWindow() time.Duration { return max(r.opts.ttl, r.opts.retry.Max) }

func (r *Registry) setStalled(stalled bool) {
	r.stallMu.Lock()
	defer r.stallMu.Unlock()
	r.stalled = stalled
	if stalled {
		r.log.Warn("etcd: no answer for the canary lease's TTL; watches keep deleted instances until the server has answered again for a while",
			"hold", r.holdWindow())
		return
	}
	r.holdUntil = time.Now().Add(r.holdWindow())
}

// holding reports whether watches keep deleted instances now, and until when: the zero time
// while the stall lasts.
func (r *Registry) holding() (bool, time.Time) {
	r.stallMu.Lock()
	defer r.stallMu.Unlock()
	if r.stalled {
		return true, time.Time{}
	}
	return time.Now().Before(r.holdUntil), r.holdUntil
}
