package rest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest"
)

// retryPair is a service of two instances in round robin: one that answers 503 to
// everything, one that answers with the body it received. Every request's first attempt
// alternates between them.
type retryPair struct {
	c          *rest.Client
	bad, good  *backend
	mu         sync.Mutex
	badBodies  []string
	goodBodies []string
}

func newRetryPair(t *testing.T) *retryPair {
	t.Helper()
	p := &retryPair{bad: startBackend(t, "bad"), good: startBackend(t, "good")}
	p.bad.setHandler(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.badBodies = append(p.badBodies, string(b))
		p.mu.Unlock()
		http.Error(w, "going away", http.StatusServiceUnavailable)
	})
	p.good.setHandler(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		p.goodBodies = append(p.goodBodies, string(b))
		p.mu.Unlock()
		_, _ = w.Write(b)
	})
	reg := memory.New()
	register(t, reg, p.bad.instance("orders"))
	register(t, reg, p.good.instance("orders"))
	budget, err := retry.NewBudget(1, 1000)
	if err != nil {
		t.Fatal(err)
	}
	p.c = newClient(t, reg, rest.WithBalancer(pick.AlgRoundRobin), rest.WithoutBreaker(), rest.WithRetryBudget(budget),
		rest.WithRetry(retry.Policy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Multiplier: 2}))
	return p
}

// send sends n requests of method with the body "<method>-<i>" and returns their statuses.
func (p *retryPair) send(t *testing.T, ctx context.Context, method string, n int, header http.Header) map[int]int {
	t.Helper()
	statuses := map[int]int{}
	for i := range n {
		body := method + "-" + string(rune('a'+i))
		req, err := http.NewRequestWithContext(ctx, method, "http://orders/things", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := p.c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusOK && string(got) != body {
			t.Errorf("%s echoed %q, want %q: the body was not replayed whole", method, got, body)
		}
	}
	return statuses
}

func TestPOSTIsNotRetriedAndPUTIsRetriedWithItsBody(t *testing.T) {
	p := newRetryPair(t)
	ctx := context.Background()

	const n = 10
	statuses := p.send(t, ctx, http.MethodPost, n, nil)
	p.mu.Lock()
	postsSeen := len(p.badBodies) + len(p.goodBodies)
	p.mu.Unlock()
	if postsSeen != n || statuses[http.StatusServiceUnavailable] != n/2 {
		t.Fatalf("%d POSTs reached the instances %d times with statuses %v; want each once, half of them 503",
			n, postsSeen, statuses)
	}

	statuses = p.send(t, ctx, http.MethodPut, n, nil)
	if statuses[http.StatusOK] != n {
		t.Fatalf("PUT statuses %v, want all %d retried to 200", statuses, n)
	}
	p.mu.Lock()
	badPUTs := 0
	for _, b := range p.badBodies {
		if strings.HasPrefix(b, "PUT-") {
			badPUTs++
		}
	}
	if badPUTs == 0 || len(p.goodBodies) != n/2+n {
		t.Errorf("bad instance saw %v and good %v: want PUTs failed on bad and each answered once by good",
			p.badBodies, p.goodBodies)
	}
	p.mu.Unlock()

	// A POST with an Idempotency-Key, or under AllowRetry, is retried too.
	statuses = p.send(t, ctx, http.MethodPost, n, http.Header{rest.IdempotencyKeyHeader: {"k"}})
	if statuses[http.StatusOK] != n {
		t.Errorf("POST with Idempotency-Key: statuses %v, want all retried to 200", statuses)
	}
	statuses = p.send(t, rest.AllowRetry(ctx), http.MethodPost, n, nil)
	if statuses[http.StatusOK] != n {
		t.Errorf("POST under AllowRetry: statuses %v, want all retried to 200", statuses)
	}
}

// A body that cannot be had again (no GetBody) is sent once, whatever the method.
func TestABodyThatCannotBeReplayedIsNotRetried(t *testing.T) {
	p := newRetryPair(t)
	codes := map[int]int{}
	for range 4 {
		req, _ := http.NewRequest(http.MethodPut, "http://orders/", io.NopCloser(strings.NewReader("x")))
		req.GetBody = nil
		resp, err := p.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusServiceUnavailable] != 2 {
		t.Errorf("PUT without GetBody: statuses %v, want two 503s passed through", codes)
	}
}

func TestWithoutRetrySendsOnce(t *testing.T) {
	reg := memory.New()
	b := startBackend(t, "b")
	b.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	register(t, reg, b.instance("orders"))
	c := newClient(t, reg, rest.WithoutRetry(), rest.WithoutBreaker())
	if _, err := get(c, "http://orders/"); err == nil {
		t.Fatal("502 passed as success")
	}
	if n := b.hits.Load(); n != 1 {
		t.Fatalf("WithoutRetry: %d attempts, want 1", n)
	}
}

// Retries draw on the budget: with one token and no refill, only one retry ever happens.
func TestRetriesStayWithinTheBudget(t *testing.T) {
	reg := memory.New()
	b := startBackend(t, "b")
	b.setHandler(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	register(t, reg, b.instance("orders"))
	budget, err := retry.NewBudget(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, reg, rest.WithoutBreaker(), rest.WithRetryBudget(budget),
		rest.WithRetry(retry.Policy{MaxAttempts: 5, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Multiplier: 1}))
	for range 3 {
		if _, err := get(c, "http://orders/"); err == nil {
			t.Fatal("503 passed as success")
		}
	}
	if n := b.hits.Load(); n != 4 {
		t.Errorf("3 requests made %d attempts, want 4: one retry from the one token", n)
	}
}
