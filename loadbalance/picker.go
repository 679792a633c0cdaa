package loadbalance

import (
	"sync"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rules"
)

type picker struct {
	router     *pick.Router
	rules      *rules.Picker // in place of router when the channel has rules
	headers    bool          // some route matches on metadata
	hdrs       *sync.Pool
	eps        []endpoint
	tagged     bool // some endpoint has a tag: read each call's tag
	hashed     bool // consistent hash: read each call's key
	timed      bool // P2C: time each call
	hashHeader string
	rand       func() uint64
	calls      *sync.Pool
}

type endpoint struct {
	child balancer.Picker
	stats *pick.Stats
	done  func(balancer.DoneInfo) // for untimed calls: made once per picker, not per call
}

// newPicker makes the picker over ready, picking with r or, when the channel has rules,
// with rp.
func newPicker(b *lbBalancer, r *pick.Router, rp *rules.Picker, ready []endpointsharding.ChildState, eps []pick.Endpoint) *picker {
	p := &picker{
		router:     r,
		rules:      rp,
		hdrs:       &b.hdrs,
		eps:        make([]endpoint, len(ready)),
		hashed:     b.alg == pick.AlgConsistentHash,
		timed:      b.alg == pick.AlgP2C,
		hashHeader: b.cfg.HashHeader,
		rand:       randUint64,
		calls:      &b.calls,
	}
	if rp != nil {
		p.tagged, p.headers = rp.Tagged(), rp.Headers()
	} else {
		p.tagged = r.Tagged()
	}
	for i, c := range ready {
		st := eps[i].Stats
		p.eps[i] = endpoint{
			child: c.State.Picker,
			stats: st,
			done:  func(info balancer.DoneInfo) { st.End(outcomeOf(info)) },
		}
	}
	return p
}

func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	var tag string
	if p.tagged {
		tag = tagOf(info.Ctx)
	}
	var key uint64
	if p.hashed {
		var ok bool
		if key, ok = hashOf(info.Ctx, p.hashHeader); !ok {
			key = p.rand() // no key: spread such calls evenly
		}
	}
	var now time.Duration
	if p.timed {
		now = pick.MonotonicClock()
	}
	var ep *endpoint
	switch {
	case p.rules == nil:
		ep = &p.eps[p.router.Pick(tag, key, now)]
	case p.headers:
		h, _ := p.hdrs.Get().(*mdHeader)
		if h == nil {
			h = new(mdHeader)
		}
		h.ctx = info.Ctx
		ep = &p.eps[p.rules.Pick(tag, h, key, now)]
		h.ctx = nil
		p.hdrs.Put(h)
	default:
		ep = &p.eps[p.rules.Pick(tag, nil, key, now)]
	}
	res, err := ep.child.Pick(info)
	if err != nil {
		return res, err
	}
	ep.stats.Begin()
	if !p.timed && res.Done == nil {
		res.Done = ep.done
		return res, nil
	}
	c, _ := p.calls.Get().(*call)
	if c == nil {
		c = &call{pool: p.calls}
		c.finish = c.end
	}
	c.stats, c.start, c.timed, c.inner = ep.stats, now, p.timed, res.Done
	res.Done = c.finish
	return res, nil
}

// call carries what the end of a timed call needs. Records are pooled, and finish is bound
// once per record, so that a pick allocates nothing; grpc calls Done once per pick.
type call struct {
	stats  *pick.Stats
	start  time.Duration
	timed  bool
	inner  func(balancer.DoneInfo)
	pool   *sync.Pool
	finish func(balancer.DoneInfo)
}

func (c *call) end(info balancer.DoneInfo) {
	o := outcomeOf(info)
	if c.timed {
		c.stats.EndTimed(o, c.start)
	} else {
		c.stats.End(o)
	}
	inner := c.inner
	c.stats, c.inner = nil, nil
	c.pool.Put(c)
	if inner != nil {
		inner(info)
	}
}

// outcomeOf classifies a finished call for the endpoint's figures.
func outcomeOf(info balancer.DoneInfo) pick.Outcome {
	if info.Err == nil {
		if !info.BytesSent && !info.BytesReceived {
			// grpc ends a pick this way when the connection went away before the call
			// was sent; the call is picked again.
			return pick.Neutral
		}
		return pick.Success
	}
	switch status.Code(info.Err) {
	case codes.Unavailable:
		return pick.Unreachable
	case codes.DeadlineExceeded, codes.Internal, codes.Unknown, codes.ResourceExhausted, codes.DataLoss:
		return pick.Failure
	case codes.Canceled:
		return pick.Neutral
	}
	// Any other code is the service's answer about the request, not about the endpoint.
	return pick.Success
}
