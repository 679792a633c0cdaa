package rules_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/rules"
)

// docGood is the document of the package doc, as an operator writes it.
const docGood = `rules:
  services:
    orders:
      instances:
        - id: orders-7f9c-1
          out: true
        - address: 10.0.0.5:8080
          weight: 300
      routes:
        - match: {header: x-canary, value: "true"}
          to:
            - {version: v2, weight: 10}
            - {version: v1, weight: 90}
      methods:
        /shop.Orders/PlaceOrder: {timeout: 500ms, retries: {attempts: 1, budget: 0.1}}
        "*": {timeout: 2s, breaker: {failureRatio: 0.5, minRequests: 20, window: 10s, sleepWindow: 5s}}
      limits:
        /shop.Orders/PlaceOrder: {rate: 200, burst: 50}
  defaults:
    methods:
      "*": {timeout: 5s, outlier: {failures: 5, base: 30s, max: 5m}}
`

// docTimeout is a document holding one method timeout, d.
func docTimeout(d string) string {
	return "rules:\n  services:\n    orders:\n      methods:\n        \"*\": {timeout: " + d + "}\n"
}

// errs collects the errors a Watch reports, from its applying goroutine.
type errs struct {
	mu  sync.Mutex
	got []error
}

func (e *errs) add(err error) { e.mu.Lock(); e.got = append(e.got, err); e.mu.Unlock() }

func (e *errs) list() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.got...)
}

// writeFile replaces path's content as an editor or config set does: a new file renamed
// over the old, so that the watcher never reads half of it.
func writeFile(t testing.TB, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// eventually waits up to 10 s (hundreds of the file watcher's 20 ms debounce) for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// watchFile starts a Watch over one file holding data, closed when the test ends.
func watchFile(t *testing.T, data string, opts ...rules.WatchOption) (*rules.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, data)
	s, err := rules.Watch(context.Background(), []config.Source{file.New(path)}, append([]rules.WatchOption{rules.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func timeoutOf(s *rules.Store) time.Duration {
	p, _ := s.Load().PolicyFor("orders", "/shop.Orders/Any")
	return p.Timeout
}

func TestWatchDecodesTheDocumentAsWritten(t *testing.T) {
	s, _ := watchFile(t, docGood)
	r := s.Load()
	o := r.For("orders")
	if len(o.Instances) != 2 || o.Instances[0].ID != "orders-7f9c-1" || !o.Instances[0].Out || o.Instances[1].Address != "10.0.0.5:8080" || o.Instances[1].Weight != 300 {
		t.Errorf("instances = %+v", o.Instances)
	}
	if len(o.Routes) != 1 || o.Routes[0].Match != (rules.Match{Header: "x-canary", Value: "true"}) ||
		len(o.Routes[0].To) != 2 || o.Routes[0].To[0] != (rules.Destination{Version: "v2", Weight: 10}) {
		t.Errorf("routes = %+v", o.Routes)
	}
	p, ok := r.PolicyFor("orders", "/shop.Orders/PlaceOrder")
	if !ok || p.Timeout != 500*time.Millisecond || p.Retries == nil || *p.Retries != (rules.Retries{Attempts: 1, Budget: 0.1}) {
		t.Errorf("PlaceOrder policy = %+v, %v", p, ok)
	}
	p, _ = r.PolicyFor("orders", "/shop.Orders/Cancel")
	if p.Timeout != 2*time.Second || p.Breaker == nil ||
		*p.Breaker != (rules.Breaker{FailureRatio: 0.5, MinRequests: 20, Window: 10 * time.Second, SleepWindow: 5 * time.Second}) {
		t.Errorf("orders * policy = %+v", p)
	}
	p, _ = r.PolicyFor("billing", "/shop.Billing/Pay")
	if p.Timeout != 5*time.Second || p.Outlier == nil || *p.Outlier != (rules.Outlier{Failures: 5, Base: 30 * time.Second, Max: 5 * time.Minute}) {
		t.Errorf("defaults * policy = %+v", p)
	}
	if l, ok := r.LimitFor("orders", "/shop.Orders/PlaceOrder"); !ok || l != (rules.Limit{Rate: 200, Burst: 50}) {
		t.Errorf("limit = %+v, %v", l, ok)
	}
}

func TestWatchAppliesAValidChange(t *testing.T) {
	s, path := watchFile(t, docTimeout("1s"))
	writeFile(t, path, docTimeout("3s"))
	eventually(t, "the new timeout is in force", func() bool { return timeoutOf(s) == 3*time.Second })
}

func TestWatchRejectsABadDocumentWholeAndReportsItOnce(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []error // errors.Is targets
		says      string  // in the message: the place at fault
	}{
		{"a syntax error", "rules:\n  services: ]\n  defaults: {}\n", []error{config.ErrSyntax}, "rules.yaml:"},
		{"an invalid value", strings.Replace(docGood, "weight: 10}", "weight: -3}", 1), []error{rules.ErrInvalid, config.ErrInvalid}, "services.orders.routes[0].to[0]: weight -3"},
		{"a duration without a unit", docTimeout("3"), []error{config.ErrType}, `"rules.services.orders.methods.*.timeout"`},
		{"a misspelt field", strings.Replace(docGood, "weight: 300", "wieght: 300", 1), []error{config.ErrUnknownKey}, `"rules.services.orders.instances.1.wieght" (did you mean "rules.services.orders.instances.1.weight"?)`},
		{"a misspelt camel-case field", strings.Replace(docGood, "failureRatio", "failureRate", 1), []error{config.ErrUnknownKey}, `(did you mean "rules.services.orders.methods.*.breaker.failureRatio"?)`},
		{"a misspelt section", strings.Replace(docGood, "  services:", "  servces:", 1), []error{config.ErrUnknownKey}, `"rules.servces"`},
		{"an unknown section", docGood + "  overrides: {orders: {weight: 1}}\n", []error{config.ErrUnknownKey}, "rules.overrides"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got errs
			s, path := watchFile(t, docTimeout("1s"), rules.WithErrorHandler(got.add))
			good := s.Load()
			calls := 0
			cancel := s.Subscribe(func(*rules.Rules) { calls++ })
			defer cancel()

			writeFile(t, path, c.doc)
			eventually(t, "the bad document is reported", func() bool { return len(got.list()) > 0 })
			err := got.list()[0]
			t.Logf("reported: %v", err)
			for _, w := range c.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q: not errors.Is %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
			if s.Load() != good || calls != 0 {
				t.Errorf("the bad document changed the rules in force (subscriber called %d times)", calls)
			}
			// The same mistake written again is not reported again; the watcher reads the
			// file within its 20 ms debounce, so 25 of them are plenty.
			writeFile(t, path, c.doc+"\n")
			time.Sleep(500 * time.Millisecond)
			if n := len(got.list()); n != 1 {
				t.Errorf("reported %d times, want once: %q", n, got.list())
			}
			if s.Load() != good {
				t.Error("the bad document, written again, changed the rules in force")
			}
			writeFile(t, path, docTimeout("3s"))
			eventually(t, "a good document after the bad one applies", func() bool { return timeoutOf(s) == 3*time.Second })
		})
	}
}

func TestWatchFailsWhenTheFirstDocumentIsBad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, strings.Replace(docGood, "burst: 50", "burst: -1", 1))
	s, err := rules.Watch(context.Background(), []config.Source{file.New(path)}, rules.WithLogger(quiet()))
	if !errors.Is(err, rules.ErrInvalid) || !strings.Contains(err.Error(), `services.orders.limits["/shop.Orders/PlaceOrder"]: burst -1`) {
		t.Fatalf("Watch = %v, %v; want an error naming the bad burst", s, err)
	}
}

func TestWatchWithoutARulesDocumentHoldsNoRules(t *testing.T) {
	s, path := watchFile(t, "db: {host: localhost}\n")
	if r := s.Load(); len(r.Services) != 0 {
		t.Fatalf("rules = %+v, want none", r)
	}
	writeFile(t, path, "db: {host: localhost}\n"+docTimeout("3s"))
	eventually(t, "rules added to the document apply", func() bool { return timeoutOf(s) == 3*time.Second })
}

func TestSubscriberSeesEachChangeOnce(t *testing.T) {
	s, path := watchFile(t, "other: 1\n"+docTimeout("1s"))
	var mu sync.Mutex
	var seen []time.Duration
	cancel := s.Subscribe(func(r *rules.Rules) {
		p, _ := r.PolicyFor("orders", "x")
		mu.Lock()
		seen = append(seen, p.Timeout)
		mu.Unlock()
	})
	defer cancel()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	for i, d := range []string{"2s", "3s", "4s"} {
		writeFile(t, path, "other: 1\n"+docTimeout(d))
		eventually(t, "change "+d+" seen", func() bool { return count() >= i+1 })
	}
	// Neither the same rules written again nor a change outside them is a change of the rules.
	writeFile(t, path, "other: 1\n"+docTimeout("4s")+"# a comment\n")
	writeFile(t, path, "other: 2\n"+docTimeout("4s"))
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if want := []time.Duration{2 * time.Second, 3 * time.Second, 4 * time.Second}; !equal(seen, want) {
		t.Errorf("subscriber saw %v, want %v", seen, want)
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCloseStopsFollowing(t *testing.T) {
	s, path := watchFile(t, docTimeout("1s"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, docTimeout("3s"))
	time.Sleep(300 * time.Millisecond)
	if d := timeoutOf(s); d != time.Second {
		t.Errorf("after Close the timeout moved to %v", d)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestWatchRejectsOptionsThatCannotWork(t *testing.T) {
	for name, opt := range map[string]rules.WatchOption{
		"a nil handler": rules.WithErrorHandler(nil),
		"a nil logger":  rules.WithLogger(nil),
		"a nil option":  nil,
	} {
		if _, err := rules.Watch(context.Background(), nil, opt); !errors.Is(err, rules.ErrOption) {
			t.Errorf("%s: Watch = %v, want ErrOption", name, err)
		}
	}
}

func TestReadChecksOnceAsWatchDoes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, path, docGood)
	r, err := rules.Read(context.Background(), []config.Source{file.New(path)})
	if err != nil || len(r.Services["orders"].Routes) != 1 {
		t.Fatalf("Read = %+v, %v", r, err)
	}
	writeFile(t, path, docGood+"  overrides: {}\n")
	if _, err := rules.Read(context.Background(), []config.Source{file.New(path)}); !errors.Is(err, config.ErrUnknownKey) {
		t.Fatalf("Read of a document with an unknown section = %v, want ErrUnknownKey", err)
	}
}
