package rest_test

import (
	"errors"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rules"
)

func ordersRules(s rules.Service) *rules.Rules {
	return &rules.Rules{Services: map[string]rules.Service{"orders": s}}
}

// checkShares fails unless the requests seen split within 3 percentage points of want.
func checkShares(t *testing.T, seen map[string]int, want map[string]float64) {
	t.Helper()
	total := 0
	for _, n := range seen {
		total += n
	}
	for id, w := range want {
		if got := float64(seen[id]) / float64(total); math.Abs(got-w) > 0.03 {
			t.Errorf("%s served %.1f%% of %d requests, want %.0f%% ± 3; all: %v", id, 100*got, total, 100*w, seen)
		}
	}
}

func TestRulesShiftWeightsOverTheSameConnections(t *testing.T) {
	provider, consumer := fileRegistries(t)
	bs := map[string]*backend{}
	for _, id := range []string{"a", "b", "c"} {
		bs[id] = startBackend(t, id)
		register(t, provider, bs[id].instance("orders"))
	}
	st, err := rules.NewStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, consumer, rest.WithRules(st), rest.WithBalancer(pick.AlgRoundRobin))
	eventually(t, "all three listed", func() bool {
		s := seen(t, c, "http://orders/", 30)
		return s["a"] > 0 && s["b"] > 0 && s["c"] > 0
	})
	checkShares(t, seen(t, c, "http://orders/", 2000), map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3})

	err = st.Set(ordersRules(rules.Service{Instances: []rules.Instance{
		{ID: "a", Weight: 600}, {ID: "b", Weight: 300}, {Address: bs["c"].srv.Listener.Addr().String(), Weight: 100},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	checkShares(t, seen(t, c, "http://orders/", 2000), map[string]float64{"a": 0.6, "b": 0.3, "c": 0.1})
	for id, b := range bs {
		if n := b.opened.Load(); n != 1 {
			t.Errorf("%s accepted %d connections, want 1", id, n)
		}
	}
}

func TestRulesDrainAnInstanceWithNoFailedRequest(t *testing.T) {
	provider, consumer := fileRegistries(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	for _, be := range []*backend{a, b} {
		be.setHandler(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(2 * time.Millisecond) // requests in flight when the rules change
			_, _ = w.Write([]byte(be.id))
		})
	}
	register(t, provider, a.instance("orders"))
	register(t, provider, b.instance("orders"))
	st, err := rules.NewStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, consumer, rest.WithRules(st))
	eventually(t, "a and b listed", func() bool {
		s := seen(t, c, "http://orders/", 20)
		return s["a"] > 0 && s["b"] > 0
	})

	var out atomic.Bool
	var reqs, failed, late atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := out.Load()
				id, err := get(c, "http://orders/")
				reqs.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
				case after && id == "a":
					late.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if err := st.Set(ordersRules(rules.Service{Instances: []rules.Instance{{ID: "a", Out: true}}})); err != nil {
		t.Fatal(err)
	}
	out.Store(true)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || late.Load() != 0 {
		t.Fatalf("of %d requests, %d failed and %d started after the drain reached a; want 0 and 0",
			reqs.Load(), failed.Load(), late.Load())
	}
	t.Logf("%d requests, none failed, none reached a after it was taken out", reqs.Load())

	// Every instance out: requests fail naming the rules.
	if err := st.Set(ordersRules(rules.Service{Instances: []rules.Instance{{ID: "a", Out: true}, {ID: "b", Out: true}}})); err != nil {
		t.Fatal(err)
	}
	if _, err := get(c, "http://orders/"); !errors.Is(err, rest.ErrNoInstances) || !errors.Is(err, rules.ErrAllOut) {
		t.Fatalf("request with every instance out: %v, want ErrNoInstances and rules.ErrAllOut", err)
	} else {
		t.Log(err)
	}
}

func TestRulesCanaryByHeaderAndRestart(t *testing.T) {
	provider, consumer := fileRegistries(t)
	stable, canary := startBackend(t, "stable"), startBackend(t, "canary")
	register(t, provider, stable.instance("orders"))
	ci := canary.instance("orders")
	ci.Version = "v2"
	register(t, provider, ci)
	st, err := rules.NewStore(ordersRules(rules.Service{
		Instances: []rules.Instance{{ID: "stable", Weight: 300}},
		Routes: []rules.Route{{Match: rules.Match{Header: "X-Canary", Value: "true"},
			To: []rules.Destination{{Version: "v2", Weight: 1}}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, consumer, rest.WithRules(st), rest.WithBalancer(pick.AlgRoundRobin))
	eventually(t, "both listed", func() bool {
		s := seen(t, c, "http://orders/", 20)
		return s["stable"] > 0 && s["canary"] > 0
	})
	for _, v := range []string{"true", "false"} {
		got := map[string]int{}
		for range 50 {
			req, _ := http.NewRequest(http.MethodGet, "http://orders/", nil)
			req.Header.Set("X-Canary", v)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[string(body)]++
		}
		// Routed requests go to the canary alone; the others share by weight, 3:1.
		if v == "true" && got["canary"] != 50 || v == "false" && (got["canary"] < 10 || got["canary"] > 15) {
			t.Errorf("50 requests with X-Canary: %s reached %v", v, got)
		}
	}
	checkShares(t, seen(t, c, "http://orders/", 2000), map[string]float64{"stable": 0.75, "canary": 0.25})

	// stable restarts on another port under the same ID: its override still applies.
	deregister(t, provider, stable.instance("orders"))
	stable.kill()
	again := startBackend(t, "stable")
	register(t, provider, again.instance("orders"))
	eventually(t, "the new stable listed", func() bool { return seen(t, c, "http://orders/", 10)["stable"] > 0 })
	checkShares(t, seen(t, c, "http://orders/", 2000), map[string]float64{"stable": 0.75, "canary": 0.25})
}

func TestWithRulesNilIsRefused(t *testing.T) {
	_, err := rest.NewClient(nil, rest.WithRules(nil))
	if !errors.Is(err, rest.ErrInvalidClientOption) {
		t.Fatalf("NewClient(WithRules(nil)) = %v, want ErrInvalidClientOption", err)
	}
}
