package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	"github.com/tianshu-go/tianshu/registry"
)

// observer reads what the demo reports, the way an operator would: the API's /status, the
// front doors' admin API and each instance's /metrics, found through the registry
// (instances announce their admin URL in their metadata).
type observer struct {
	reg    registry.Discovery
	client *http.Client
}

// gatewayURLs returns the http:// endpoint each registered front door announced, by
// instance ID.
func (o *observer) gatewayURLs(ctx context.Context) map[string]string {
	return o.httpURLs(ctx, front.Service)
}

// apiURLs returns the http:// endpoint of each API instance, the canary's included, by
// instance ID.
func (o *observer) apiURLs(ctx context.Context) map[string]string {
	out := o.httpURLs(ctx, api.Service)
	for id, u := range o.httpURLs(ctx, canaryService) {
		out[id] = u
	}
	return out
}

// httpURLs returns the http:// endpoint of each registered instance of service, by ID.
func (o *observer) httpURLs(ctx context.Context, service string) map[string]string {
	list, _ := o.reg.GetService(ctx, service)
	out := map[string]string{}
	for _, in := range list {
		for _, e := range in.Endpoints {
			if e.Scheme == "http" {
				out[in.ID] = e.String()
				break
			}
		}
	}
	return out
}

// adminURLs returns the admin URL each registered instance of service announced, by ID.
func (o *observer) adminURLs(ctx context.Context, service string) map[string]string {
	list, _ := o.reg.GetService(ctx, service)
	out := map[string]string{}
	for _, in := range list {
		if u := in.Metadata[kit.AdminKey]; u != "" {
			out[in.ID] = u
		}
	}
	return out
}

// instances returns the IDs of a service's registered instances, sorted.
func (o *observer) instances(ctx context.Context, service string) []string {
	list, _ := o.reg.GetService(ctx, service)
	ids := make([]string, 0, len(list))
	for _, in := range list {
		ids = append(ids, in.ID)
	}
	return ids
}

func (o *observer) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// status reads every registered API instance's counters, each from its own URL (through
// the front door, each read would reach one instance of the route's choosing), and adds
// them up; ServedBy also counts the orders each API instance placed, under its ID, beside
// those each front door forwarded (counted by the API from the header the front door
// sets).
func (o *observer) status(ctx context.Context) (api.Status, error) {
	sum := api.Status{ServedBy: map[string]int64{}}
	gws := o.apiURLs(ctx)
	if len(gws) == 0 {
		return sum, fmt.Errorf("the registry lists no %s instance", api.Service)
	}
	ids := make([]string, 0, len(gws))
	for id := range gws {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		var st api.Status
		if err := o.getJSON(ctx, gws[id]+"/status", &st); err != nil {
			return sum, err
		}
		sum.Placed += st.Placed
		sum.Pending += st.Pending
		sum.Failed += st.Failed
		sum.Rejected += st.Rejected
		for k, v := range st.ServedBy {
			sum.ServedBy[k] += v
		}
		sum.ServedBy[st.Instance] += st.Placed
		if st.LastError != "" {
			sum.LastError = st.LastError
		}
	}
	sum.Instance = strings.Join(ids, ",")
	return sum, nil
}

// families is one scrape of a /metrics endpoint.
type families map[string]*dto.MetricFamily

// scrape reads every registered instance of service's /metrics, by instance ID.
func (o *observer) scrape(ctx context.Context, service string) map[string]families {
	list, _ := o.reg.GetService(ctx, service)
	out := map[string]families{}
	for _, in := range list {
		url := in.Metadata[kit.AdminKey]
		if url == "" {
			continue
		}
		if f, err := o.scrapeURL(ctx, url+"/metrics"); err == nil {
			out[in.ID] = f
		}
	}
	return out
}

func (o *observer) scrapeURL(ctx context.Context, url string) (families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// value sums the samples of the metric name whose labels include every pair in match; a
// histogram counts its observations. ok is false when no sample matched.
func (f families) value(name string, match ...string) (sum float64, ok bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(match); i += 2 {
			if labelOf(m, match[i]) != match[i+1] {
				continue next
			}
		}
		ok = true
		switch {
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, ok
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// breakerStates returns each breaker's state ("closed", "open", "half-open") from the
// tianshu_breaker_state gauges of the scraped instances.
func breakerStates(scrapes map[string]families) map[string]string {
	out := map[string]string{}
	for _, f := range scrapes {
		fam := f["tianshu_breaker_state"]
		if fam == nil {
			continue
		}
		for _, m := range fam.Metric {
			if m.Gauge.GetValue() == 1 {
				out[labelOf(m, "breaker")] = labelOf(m, "state")
			}
		}
	}
	return out
}

// summary is the one line a second the demo prints: orders per second, failures, and how
// many orders each instance served a part of in that second, then the breakers' states.
func summary(elapsed time.Duration, prev, now api.Status, dt time.Duration, breakers map[string]string) string {
	per := func(n int64) string { return fmt.Sprintf("%.0f", float64(n)/dt.Seconds()) }
	var b strings.Builder
	fmt.Fprintf(&b, "%5.1fs  orders %3s/s  pending %3s/s  failed %3s/s",
		elapsed.Seconds(), per(now.Placed-prev.Placed), per(now.Pending-prev.Pending), per(now.Failed-prev.Failed))
	ids := make([]string, 0, len(now.ServedBy))
	for id := range now.ServedBy {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	group := ""
	for _, id := range ids {
		// IDs are <service>-<n>: a bar between services, a comma within one.
		svc := id[:max(0, strings.LastIndexByte(id, '-'))]
		sep := ","
		if svc != group {
			sep, group = " |", svc
		}
		fmt.Fprintf(&b, "%s %s %s", sep, id, per(now.ServedBy[id]-prev.ServedBy[id]))
	}
	names := make([]string, 0, len(breakers))
	for n := range breakers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, " | breaker %s %s", shortMethod(n), breakers[n])
	}
	return b.String()
}

// shortMethod turns /shop.v1.Payment/Charge into Payment/Charge.
func shortMethod(m string) string {
	m = strings.TrimPrefix(m, "/")
	if i := strings.LastIndex(m, "."); i >= 0 {
		return m[i+1:]
	}
	return m
}
