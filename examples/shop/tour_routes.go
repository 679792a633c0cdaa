package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
)

// What the tour writes into the front door's routes (gateway.yaml): a route, then a canary
// on the orders route. Both are YAML lines of the gateway's route document (package
// gateway), inserted at fixed places of the shipped file.
const (
	routesAnchor = "\n  routes:\n"
	newRoute     = `    - name: orders-v1          # added by the tour: /api/v1/orders is shop-api's /orders
      match: {path: {prefix: /api/v1}, methods: [GET, POST]}
      target: {service: shop-api}
      rewrite: {prefix: ""}
`
	newRoutePath = "/api/v1/orders?limit=1"
	// brokenRoute has no target: the set with it does not validate and is rejected whole.
	brokenRoute = `    - name: broken             # added by the tour: no target, so the set is rejected
      match: {path: {prefix: /broken}}
`

	ordersRouteAnchor = "    - name: orders "
	ordersTarget      = "      target: {service: " + api.Service + "}\n"
	canaryLine        = "      canary: {target: {service: " + canaryService + "}, weight: 10, header: {name: X-Canary, value: \"1\"}}  # added by the tour\n"
	canaryHeader      = "X-Canary"

	// canaryRequests is the size of the burst the split is measured over.
	canaryRequests = 1000
	headerRequests = 100
)

// routeReport is what the route change showed.
type routeReport struct {
	Before int // probes of the new path answered 404 before the edit
	// Live is, per front door, the time from the write to the first answer of the new
	// route there.
	Live    map[string]time.Duration
	Matched int // probes the new route answered (200, from an API instance)
	// Failed counts probes answered otherwise after the edit: neither the new route nor,
	// before it is live on that front door, 404; or no answer at all.
	Failed               int
	Orders, OrdersFailed int               // the traffic's orders from the write on, and failures
	Generation           map[string]uint64 // per front door, from its admin API, after the change

	// Then a broken edit: Rejected is shop_gateway_routes_rejected_total per front door
	// after it, KeptGeneration whether the generation in force stayed, and KeptServing the
	// probes the new route answered while the broken file was in place.
	Rejected       map[string]float64
	KeptGeneration bool
	KeptServing    int
}

// canaryReport is what the canary split showed.
type canaryReport struct {
	Live                   map[string]time.Duration // per front door, from the write to the first X-Canary request on the canary
	N, ToCanary            int                      // requests without the header, and those the canary answered
	ToStable               int                      // those the stable version answered
	Share                  float64                  // ToCanary/N
	Header, HeaderOnCanary int                      // requests with the header, and those the canary answered
	Failed                 int                      // requests of both bursts not answered 200
	Orders, Canary         int                      // the traffic's orders placed once live, and those by the canary
}

// probe is one request of the tour's own and what came back.
type probe struct {
	at   time.Time
	via  string // the front door it was sent to
	code int    // 0: no answer
	api  string // the API instance that answered
}

func (t *tour) frontConfig() string { return filepath.Join(t.dir, "config", front.Service+".yaml") }

// get sends GET url with the header h through the demo's client.
func (t *tour) get(ctx context.Context, url string, h http.Header) probe {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return probe{at: time.Now()}
	}
	maps.Copy(req.Header, h)
	resp, err := t.obs.client.Do(req)
	if err != nil {
		return probe{at: time.Now()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return probe{at: time.Now(), code: resp.StatusCode, api: resp.Header.Get(api.ServedByHeader)}
}

// insertAfter inserts text into doc after the first after found at or past anchor.
func insertAfter(doc, anchor, after, text string) (string, error) {
	i := strings.Index(doc, anchor)
	if i < 0 {
		return "", fmt.Errorf("%q not found in %s", strings.TrimSpace(anchor), front.Service+".yaml")
	}
	j := strings.Index(doc[i:], after)
	if j < 0 {
		return "", fmt.Errorf("%q not found after %q in %s", strings.TrimSpace(after), strings.TrimSpace(anchor), front.Service+".yaml")
	}
	k := i + j + len(after)
	return doc[:k] + text + doc[k:], nil
}

// editRoutes rewrites the front door's config file with text inserted as insertAfter does.
func (t *tour) editRoutes(anchor, after, text string) error {
	doc, err := os.ReadFile(t.frontConfig())
	if err != nil {
		return err
	}
	edited, err := insertAfter(string(doc), anchor, after, text)
	if err != nil {
		return err
	}
	return writeFile(t.frontConfig(), []byte(edited))
}

// generations reads the generation of the routes in force from each front door's admin API.
func (t *tour) generations(ctx context.Context) map[string]uint64 {
	out := map[string]uint64{}
	for id, u := range t.obs.adminURLs(ctx, front.Service) {
		var doc struct {
			Generation uint64 `json:"generation"`
		}
		if err := t.obs.getJSON(ctx, u+"/routes", &doc); err == nil {
			out[id] = doc.Generation
		}
	}
	return out
}

// route adds a route to the front doors' config file while the traffic runs and probes the
// new path on each front door, from before the edit until the route answers there.
func (t *tour) route(ctx context.Context) (string, error) {
	fronts := t.obs.gatewayURLs(ctx)
	if len(fronts) == 0 {
		return "", fmt.Errorf("the registry lists no front door")
	}
	before := t.generations(ctx)
	pctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var probes []probe
	var wg sync.WaitGroup
	for id, u := range fronts {
		wg.Go(func() {
			for pctx.Err() == nil {
				p := t.get(pctx, u+newRoutePath, nil)
				if pctx.Err() != nil {
					return // stopped, not an answer of the front door's
				}
				p.via = id
				mu.Lock()
				probes = append(probes, p)
				mu.Unlock()
				select {
				case <-pctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	halt := func() []probe {
		stop()
		wg.Wait()
		return probes
	}
	defer halt()
	select { // a few probes before the edit: the path has no route yet
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(300 * time.Millisecond):
	}

	from := time.Now()
	if err := t.editRoutes(routesAnchor, routesAnchor, newRoute); err != nil {
		return "", err
	}
	t.pr.say("   gateway.yaml now has route orders-v1: /api/v1/... to %s, the prefix rewritten away", api.Service)
	r := &t.rep.Route
	err := t.waitFor(ctx, 20*time.Second, func(reading) (bool, error) {
		mu.Lock()
		seen := slices.Clone(probes)
		mu.Unlock()
		judgeRoute(r, seen, from)
		return len(r.Live) == len(fronts) && r.Matched >= 20, nil
	})
	if err != nil {
		judgeRoute(r, halt(), from)
		return "", fmt.Errorf("the new route is live on %v of %d front doors, %d answers, %d failed: %w", r.Live, len(fronts), r.Matched, r.Failed, err)
	}
	r.Generation = t.generations(ctx)

	// A broken edit: rejected whole by both front doors, the routes in force keep serving.
	good, err := os.ReadFile(t.frontConfig())
	if err != nil {
		return "", err
	}
	rejectedBefore := t.rejections(ctx)
	if err := t.editRoutes(routesAnchor, routesAnchor, brokenRoute); err != nil {
		return "", err
	}
	t.pr.say("   gateway.yaml now also has a route without a target: the whole set must be rejected")
	rejectedBy := 0
	err = t.waitFor(ctx, 20*time.Second, func(reading) (bool, error) {
		r.Rejected = t.rejections(ctx)
		rejectedBy = 0
		for id := range fronts {
			if r.Rejected[id] > rejectedBefore[id] {
				rejectedBy++
			}
		}
		return rejectedBy == len(fronts), nil
	})
	rejectedAt := time.Now()
	if err != nil {
		judgeRoute(r, halt(), from)
		return "", fmt.Errorf("the front doors did not reject the broken edit (shop_gateway_routes_rejected_total %v): %w", r.Rejected, err)
	}
	select { // probes meet the routes in force while the broken file is in place
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(300 * time.Millisecond):
	}
	r.KeptGeneration = maps.Equal(r.Generation, t.generations(ctx))
	restoredAt := time.Now()
	if err := writeFile(t.frontConfig(), good); err != nil {
		return "", err
	}
	all := halt()
	judgeRoute(r, all, from)
	for _, p := range all {
		if p.at.After(rejectedAt) && p.at.Before(restoredAt) && p.code == http.StatusOK {
			r.KeptServing++
		}
	}
	as := t.traffic.since(from)
	r.Orders, r.OrdersFailed = len(as), countFailed(as)
	ids := slices.Sorted(maps.Keys(r.Live))
	live := make([]string, len(ids))
	for i, id := range ids {
		live[i] = fmt.Sprintf("%s after %.2f s (generation %d -> %d)", id, r.Live[id].Seconds(), before[id], r.Generation[id])
	}
	kept := "stayed"
	if !r.KeptGeneration {
		kept = "moved"
	}
	return fmt.Sprintf("live on %s; GET /api/v1/orders: %d answers 404 before, %d by the new route after, %d failed; "+
		"the broken edit was rejected whole by %d front doors (shop_gateway_routes_rejected_total), the generation %s, "+
		"and the route answered %d probes meanwhile; %d orders during the step, %d failed",
		strings.Join(live, ", "), r.Before, r.Matched, r.Failed, rejectedBy, kept, r.KeptServing, r.Orders, r.OrdersFailed), nil
}

// rejections reads shop_gateway_routes_rejected_total from each front door's /metrics.
func (t *tour) rejections(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for id, f := range t.obs.scrape(ctx, front.Service) {
		out[id], _ = f.value("shop_gateway_routes_rejected_total")
	}
	return out
}

// judgeRoute counts the probes of the new path, sent from before the edit at from.
func judgeRoute(r *routeReport, probes []probe, from time.Time) {
	r.Before, r.Matched, r.Failed = 0, 0, 0
	r.Live = map[string]time.Duration{}
	slices.SortFunc(probes, func(a, b probe) int { return a.at.Compare(b.at) })
	for _, p := range probes {
		_, live := r.Live[p.via]
		switch {
		case p.at.Before(from) && p.code == http.StatusNotFound:
			r.Before++
		case !p.at.Before(from) && p.code == http.StatusOK && p.api != "":
			r.Matched++
			if !live {
				r.Live[p.via] = p.at.Sub(from)
			}
		case !p.at.Before(from) && p.code == http.StatusNotFound && !live:
			// Not live on this front door yet: the old routes still answer.
		default:
			r.Failed++
		}
	}
}

// canary puts a canary on the orders route (10% by weight, and every request carrying
// X-Canary: 1) and measures the split over bursts of the tour's own requests.
func (t *tour) canary(ctx context.Context) (string, error) {
	fronts := t.obs.gatewayURLs(ctx)
	if len(fronts) == 0 {
		return "", fmt.Errorf("the registry lists no front door")
	}
	from := time.Now()
	if err := t.editRoutes(ordersRouteAnchor, ordersTarget, canaryLine); err != nil {
		return "", err
	}
	t.pr.say("   gateway.yaml's orders route now has canary {target: {service: %s}, weight: 10, header: {name: %s, value: \"1\"}}", canaryService, canaryHeader)
	r := &t.rep.Canary
	r.Live = map[string]time.Duration{}
	withHeader := http.Header{canaryHeader: {"1"}}
	err := t.waitFor(ctx, 20*time.Second, func(reading) (bool, error) {
		for id, u := range fronts {
			if _, ok := r.Live[id]; !ok && t.get(ctx, u+"/orders?limit=1", withHeader).api == canaryAPI {
				r.Live[id] = time.Since(from)
			}
		}
		return len(r.Live) == len(fronts), nil
	})
	if err != nil {
		return "", fmt.Errorf("the canary is live on %v of %d front doors: %w", r.Live, len(fronts), err)
	}
	liveAt := time.Now()

	urls := slices.Sorted(maps.Values(fronts))
	plain, err := t.burst(ctx, urls, canaryRequests, nil)
	if err != nil {
		return "", err
	}
	headed, err := t.burst(ctx, urls, headerRequests, withHeader)
	if err != nil {
		return "", err
	}
	r.N, r.Header = len(plain), len(headed)
	for _, p := range plain {
		switch p.api {
		case canaryAPI:
			r.ToCanary++
		case stableAPI:
			r.ToStable++
		}
		if p.code != http.StatusOK {
			r.Failed++
		}
	}
	for _, p := range headed {
		if p.api == canaryAPI {
			r.HeaderOnCanary++
		}
		if p.code != http.StatusOK {
			r.Failed++
		}
	}
	r.Share = float64(r.ToCanary) / float64(r.N)
	for _, a := range t.traffic.since(liveAt) {
		if a.placed() {
			r.Orders++
			if a.order.ServedBy.API == canaryAPI {
				r.Canary++
			}
		}
	}
	return fmt.Sprintf("live on every front door within %.2f s; %d GETs without the header: %s (canary) %d = %.1f%%, %s %d; %d with %s: 1: %d on the canary; %d failed; orders placed since: %d, %d by the canary",
		slices.Max(slices.Collect(maps.Values(r.Live))).Seconds(), r.N, canaryAPI, r.ToCanary, 100*r.Share, stableAPI, r.ToStable,
		r.Header, canaryHeader, r.HeaderOnCanary, r.Failed, r.Orders, r.Canary), nil
}

// burst sends n GETs of /orders?limit=1 spread over the front doors' urls, eight at a time,
// printing the line a second meanwhile.
func (t *tour) burst(ctx context.Context, urls []string, n int, h http.Header) ([]probe, error) {
	out := make([]probe, n)
	var next atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				out[i] = t.get(ctx, urls[i%len(urls)]+"/orders?limit=1", h)
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	err := t.waitFor(ctx, 2*time.Minute, func(reading) (bool, error) {
		select {
		case <-done:
			return true, nil
		default:
			return false, nil
		}
	})
	if err != nil {
		<-done
		return nil, fmt.Errorf("%d requests did not finish: %w", n, err)
	}
	return out, nil
}
