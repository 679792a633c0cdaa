package rest

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/internal/rulespolicy"
	"github.com/tianshu-go/tianshu/rules"
)

// callPolicy is what one request is sent with: its attempts, the backoff between them and
// the budget its retries draw on, and the breaker each attempt asks.
type callPolicy struct {
	brk      breaker.Breaker // nil: none
	attempts int
	backoff  *retry.Policy
	budget   *retry.Budget
}

// ruleBudget is the budget of one rule's retries, kept while the rule's share stays.
type ruleBudget struct {
	share  float64
	budget *retry.Budget
}

// budget returns the budget of the rule under key with share, started again when the
// rule's share changed.
func (s *service) budget(key string, share float64) *retry.Budget {
	return s.budgets.Get(key, func(cur *ruleBudget) bool { return cur.share == share }, func(*ruleBudget) *ruleBudget {
		return &ruleBudget{share: share, budget: rulespolicy.Budget(share)}
	}).budget
}

// ruleCircuit is the circuit of one rule's breaker thresholds; b is nil when it could
// not be made.
type ruleCircuit struct {
	rule rules.Breaker
	b    breaker.Breaker
}

// ruleBreaker returns the circuit of the rule under key with thresholds rule, a closed one
// when the thresholds changed.
func (s *service) ruleBreaker(key string, rule rules.Breaker) breaker.Breaker {
	return s.circuits.Get(key, func(cur *ruleCircuit) bool { return cur.rule == rule }, func(*ruleCircuit) *ruleCircuit {
		next := &ruleCircuit{rule: rule}
		c, err := breaker.NewCircuit(s.name+" "+key, rulespolicy.CircuitOptions(rule)...)
		if err != nil { // rules.Validate keeps the thresholds in range
			s.t.cfg.log.Warn("rules: breaker rule not applied", "service", s.name, "rule", key, "err", err)
			return next
		}
		next.b = c
		return next
	}).b
}

// outlier returns the ejection thresholds of the service's "*" policy, for its instances'
// figures (pick.WithEjectionFrom): ejection is per instance of the service, not per route.
func (s *service) outlier() (failures int, base, maximum time.Duration, ok bool) {
	p, found := s.t.cfg.rules.Load().PolicyFor(s.name, "*")
	if !found || p.Outlier == nil {
		return 0, 0, 0, false
	}
	return p.Outlier.Failures, p.Outlier.Base, p.Outlier.Max, true
}

// policy returns how req is sent: by its route's rules (WithRules) where they set retries
// or a breaker, else by the client's retry options and breaker; and, when the rules set a
// timeout that comes before req's deadline, req bounded by it, with the cancel to call once
// its response is done.
func (s *service) policy(req *http.Request) (callPolicy, *http.Request, context.CancelFunc) {
	t := s.t
	cp := callPolicy{brk: s.brk, attempts: 1, backoff: &t.cfg.policy, budget: t.cfg.budget}
	if !t.cfg.noRetry {
		cp.attempts = t.cfg.policy.MaxAttempts
	}
	var cancel context.CancelFunc
	if t.cfg.rules != nil {
		key, p, ok := t.cfg.rules.Load().HTTPPolicyFor(s.name, req.Method, req.URL.Path)
		if ok && p.Retries != nil {
			cp.attempts = p.Retries.Attempts
			cp.backoff = &t.ruleBackoff
			cp.budget = s.budget(key, p.Retries.Budget)
		}
		if ok && p.Breaker != nil {
			if b := s.ruleBreaker(key, *p.Breaker); b != nil {
				cp.brk = b
			}
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
