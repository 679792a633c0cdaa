package metrics

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tianshu-go/tianshu/internal/callhist"
)

// meterProvider is the SDK provider with Tianshu's call durations aggregated beside it (see
// package internal/callhist): package telemetry records a call's duration into the Store
// in a few atomic adds, and producer hands the series to the SDK's reader.
type meterProvider struct {
	*sdkmetric.MeterProvider
	durations *callhist.Store
}

// CallDurations returns the store that telemetry's handlers record durations into.
func (p *meterProvider) CallDurations() *callhist.Store { return p.durations }

// producer reports a Store's histograms as the SDK would report its own: cumulative, with
// the instrument's scope, name, unit, description and bounds, minimum, maximum and the
// last sampled exemplar of each bucket.
type producer struct{ store *callhist.Store }

var _ sdkmetric.Producer = producer{}

// Produce returns the series that have recorded at least once.
func (p producer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	now := time.Now()
	var out []metricdata.ScopeMetrics
	for _, in := range p.store.Instruments() {
		d := in.Desc()
		hist := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
		for _, s := range in.All() {
			r := s.Read()
			if r.Count == 0 {
				continue
			}
			dp := metricdata.HistogramDataPoint[float64]{
				Attributes: s.Attributes(), StartTime: in.Start(), Time: now,
				Count: r.Count, Bounds: d.Bounds, BucketCounts: r.BucketCounts, Sum: r.Sum,
				Min: metricdata.NewExtrema(r.Min), Max: metricdata.NewExtrema(r.Max),
			}
			for _, e := range r.Exemplars {
				dp.Exemplars = append(dp.Exemplars, metricdata.Exemplar[float64]{
					Time: e.Time, Value: e.Value, TraceID: e.TraceID[:], SpanID: e.SpanID[:]})
			}
			hist.DataPoints = append(hist.DataPoints, dp)
		}
		if len(hist.DataPoints) == 0 {
			continue
		}
		m := metricdata.Metrics{Name: d.Name, Description: d.Description, Unit: d.Unit, Data: hist}
		scope := instrumentation.Scope{Name: d.Scope, SchemaURL: d.SchemaURL}
		i := 0
		for i < len(out) && out[i].Scope != scope {
			i++
		}
		if i == len(out) {
			out = append(out, metricdata.ScopeMetrics{Scope: scope})
		}
		out[i].Metrics = append(out[i].Metrics, m)
	}
	return out, nil
}
