package metrics

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tianshu-go/tianshu/breaker"
)

// ScopeName is the instrumentation scope of the metrics this package records.
const ScopeName = "github.com/tianshu-go/tianshu/metrics"

// Names of the breaker metrics.
const (
	BreakerStateName       = "tianshu.breaker.state"
	BreakerRejectedName    = "tianshu.breaker.rejected"
	BreakerRejectRatioName = "tianshu.breaker.reject_ratio"
	BreakerRequestsName    = "tianshu.breaker.window.requests"
	BreakerFailuresName    = "tianshu.breaker.window.failures"
)

// ObserveBreakers reports the breakers of g each time metrics are collected:
//
//   - tianshu.breaker.state{breaker, state}: 1 for the state the breaker is in, 0 for the
//     others, so that an alert can test state="open" == 1;
//   - tianshu.breaker.rejected{breaker}: calls refused since the breaker was made;
//   - tianshu.breaker.reject_ratio{breaker}: probability that the next call is refused;
//   - tianshu.breaker.window.requests and .failures{breaker}: calls in the current window.
//
// attrs are added to every series (a "group" attribute when several groups share key names,
// for instance). Unregister the returned registration when the group is closed.
func ObserveBreakers(mp metric.MeterProvider, g *breaker.Group, attrs ...attribute.KeyValue) (metric.Registration, error) {
	if g == nil {
		return nil, fmt.Errorf("%w: nil breaker group", ErrInvalidOption)
	}
	m := mp.Meter(ScopeName)
	state, err1 := m.Int64ObservableGauge(BreakerStateName,
		metric.WithDescription("1 for the state the breaker is in (closed, open, half-open, throttling), else 0."))
	rejected, err2 := m.Int64ObservableCounter(BreakerRejectedName, metric.WithUnit("{call}"),
		metric.WithDescription("Calls the breaker refused since it was made."))
	ratio, err3 := m.Float64ObservableGauge(BreakerRejectRatioName, metric.WithUnit("1"),
		metric.WithDescription("Probability that the breaker refuses the next call."))
	reqs, err4 := m.Int64ObservableGauge(BreakerRequestsName, metric.WithUnit("{call}"),
		metric.WithDescription("Calls that went out and ended in the breaker's current window."))
	fails, err5 := m.Int64ObservableGauge(BreakerFailuresName, metric.WithUnit("{call}"),
		metric.WithDescription("Calls in the breaker's current window that failed."))
	if err := joinErrs(err1, err2, err3, err4, err5); err != nil {
		return nil, fmt.Errorf("metrics: breaker instruments: %w", err)
	}
	base := append([]attribute.KeyValue(nil), attrs...)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, st := range g.Stats() {
			kv := append(base[:len(base):len(base)], attribute.String("breaker", st.Name))
			set := metric.WithAttributes(kv...)
			for _, s := range [...]breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen, breaker.Throttling} {
				v := int64(0)
				if s == st.State {
					v = 1
				}
				o.ObserveInt64(state, v, metric.WithAttributes(append(kv[:len(kv):len(kv)], attribute.String("state", s.String()))...))
			}
			o.ObserveInt64(rejected, int64(st.Rejected), set)
			o.ObserveFloat64(ratio, st.RejectRatio, set)
			o.ObserveInt64(reqs, int64(st.Requests), set)
			o.ObserveInt64(fails, int64(st.Failures), set)
		}
		return nil
	}, state, rejected, ratio, reqs, fails)
	if err != nil {
		return nil, fmt.Errorf("metrics: breaker callback: %w", err)
	}
	return reg, nil
}
