package rest

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/breaker/retry"
)

// rulesBurst is the retries a rule's budget saves up: as retry.DefaultBudget, so that a
// quiet route can still retry the odd failure.
const rulesBurst = 10

// callPolicy is what one request is sent with: its attempts, the backoff between them and
// the budget its retries draw on.
type callPolicy struct {
	attempts int
	backoff  *retry.Policy
	budget   *retry.Budget
}

// ruleBudget is the budget of one rule's retries, kept while the rule's share stays.
type ruleBudget struct {
	share  float64
	budget *retry.Budget
}

// budgets holds a service's retry budgets by the key of the rule they serve.
type budgets struct{ m sync.Map } // rule key -> *ruleBudget

// get returns the budget of the rule under key with share (0: retry.DefaultBudget's 10%),
// starting a new one when the rule's share changed.
func (b *budgets) get(key string, share float64) *retry.Budget {
	v, _ := b.m.Load(key)
	cur, _ := v.(*ruleBudget)
	if cur != nil && cur.share == share {
		return cur.budget
	}
	next := &ruleBudget{share: share, budget: retry.DefaultBudget()}
	if share > 0 {
		if nb, err := retry.NewBudget(share, rulesBurst); err == nil { // the rules keep share in 0..1
			next.budget = nb
		}
	}
	if cur == nil {
		if won, loaded := b.m.LoadOrStore(key, next); loaded {
			return won.(*ruleBudget).budget
		}
		return next.budget
	}
	if !b.m.CompareAndSwap(key, cur, next) {
		if won, ok := b.m.Load(key); ok {
			return won.(*ruleBudget).budget
		}
	}
	return next.budget
}

// policy returns how req is sent: by its route's rules (WithRules) where they set retries,
// else by the client's retry options; and, when the rules set a timeout that comes before
// req's deadline, req bounded by it, with the cancel to call once its response is done.
func (s *service) policy(req *http.Request) (callPolicy, *http.Request, context.CancelFunc) {
	t := s.t
	cp := callPolicy{attempts: 1, backoff: &t.cfg.policy, budget: t.cfg.budget}
	if !t.cfg.noRetry {
		cp.attempts = t.cfg.policy.MaxAttempts
	}
	var cancel context.CancelFunc
	if t.cfg.rules != nil {
		key, p, ok := t.cfg.rules.Load().HTTPPolicyFor(s.name, req.Method, req.URL.Path)
		if ok && p.Retries != nil {
			cp.attempts = p.Retries.Attempts
			cp.backoff = &t.ruleBackoff
			cp.budget = s.budgets.get(key, p.Retries.Budget)
		}
		// An upgraded connection (a WebSocket) lives on in the response: a deadline
		// meant for calls would cut it.
		if ok && p.Timeout > 0 && req.Header.Get("Upgrade") == "" {
			ctx := req.Context()
			if dl, has := ctx.Deadline(); !has || time.Until(dl) > p.Timeout {
				ctx, cancel = context.WithTimeout(ctx, p.Timeout)
				req = req.WithContext(ctx)
			}
		}
	}
	if cp.attempts > 1 && !idempotent(req) {
		cp.attempts = 1
	}
	return cp, req, cancel
}

// boundBody holds a rules timeout until the response body is read to the end or closed,
// so that the deadline covers reading the body, as it covers the exchange.
type boundBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *boundBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.cancel()
	}
	return n, err
}

func (b *boundBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// bound ties cancel to resp: at once when there is no body to read, else when the body is
// done.
func bound(resp *http.Response, cancel context.CancelFunc) *http.Response {
	if resp == nil || resp.Body == nil || resp.Body == http.NoBody {
		cancel()
		return resp
	}
	resp.Body = &boundBody{ReadCloser: resp.Body, cancel: cancel}
	return resp
}
