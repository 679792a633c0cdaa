package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

func newReader(t *testing.T) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return r, mp
}

// points renders every data point as "name{k=v,...}=value", sorted.
func points(t *testing.T, r *sdkmetric.ManualReader) []string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var out []string
	attrs := func(s attribute.Set) string {
		var kv []string
		for _, a := range s.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.Emit())
		}
		return "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s=%d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s=%g", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, fmt.Sprintf("%s%s=%d", m.Name, attrs(p.Attributes), p.Value))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestObserveBreakersReportsAnOpenCircuit(t *testing.T) {
	r, mp := newReader(t)
	g, err := breaker.NewGroup(breaker.CircuitFactory())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b, err := g.Get("orders")
	if err != nil {
		t.Fatal(err)
	}
	for range 200 { // fail until the circuit opens
		done, err := b.Allow()
		if err != nil {
			break
		}
		done(false)
	}
	reg, err := metrics.ObserveBreakers(mp, g, attribute.String("group", "method"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	got := points(t, r)
	for _, want := range []string{
		"tianshu.breaker.state{breaker=orders,group=method,state=open}=1",
		"tianshu.breaker.state{breaker=orders,group=method,state=closed}=0",
		"tianshu.breaker.reject_ratio{breaker=orders,group=method}=1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, strings.Join(got, "\n"))
		}
	}
}

func TestObserveBreakersRejectsANilGroup(t *testing.T) {
	_, mp := newReader(t)
	if _, err := metrics.ObserveBreakers(mp, nil); !errors.Is(err, metrics.ErrInvalidOption) {
		t.Fatalf("ObserveBreakers(nil) = %v, want ErrInvalidOption", err)
	}
}

// failingWatch is a registry whose watchers fail once before answering.
type failingWatch struct{ *memory.Registry }

func (f failingWatch) Watch(ctx context.Context, svc string) (registry.Watcher, error) {
	if svc == "down" {
		return nil, registry.ErrUnavailable
	}
	return f.Registry.Watch(ctx, svc)
}

func TestInstrumentRegistryCountsRegistrationsInstancesAndWatchErrors(t *testing.T) {
	ctx := context.Background()
	r, mp := newReader(t)
	mem := memory.New()
	defer mem.Close()
	reg, err := metrics.InstrumentRegistry(failingWatch{mem}, mp)
	if err != nil {
		t.Fatal(err)
	}
	in := &registry.Instance{ID: "a", Service: "orders", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 1}}}
	bad := &registry.Instance{ID: "", Service: "orders"}
	_ = reg.Register(ctx, in)
	_ = reg.Register(ctx, in)
	if err := reg.Register(ctx, bad); err == nil {
		t.Fatal("registering an invalid instance succeeded")
	}
	w, err := reg.Watch(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Watch(ctx, "down"); err == nil {
		t.Fatal("watching the failing service succeeded")
	}
	_ = reg.Deregister(ctx, in)
	got := points(t, r)
	for _, want := range []string{
		"tianshu.registry.registrations{repeat=false,result=ok,service=orders}=1",
		"tianshu.registry.registrations{repeat=true,result=ok,service=orders}=1",
		"tianshu.registry.registrations{repeat=false,result=error,service=orders}=1",
		"tianshu.registry.deregistrations{result=ok,service=orders}=1",
		"tianshu.registry.instances{service=orders}=1",
		"tianshu.registry.watch.errors{service=down}=1",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, strings.Join(got, "\n"))
		}
	}
}

func TestInstrumentRegistryRejectsANilRegistry(t *testing.T) {
	_, mp := newReader(t)
	if _, err := metrics.InstrumentRegistry(nil, mp); !errors.Is(err, metrics.ErrInvalidOption) {
		t.Fatalf("InstrumentRegistry(nil) = %v, want ErrInvalidOption", err)
	}
}
