package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tianshu-go/tianshu/registry"
)

// Names of the registry metrics.
const (
	RegistryInstancesName       = "tianshu.registry.instances"
	RegistryWatchErrorsName     = "tianshu.registry.watch.errors"
	RegistryRegistrationsName   = "tianshu.registry.registrations"
	RegistryDeregistrationsName = "tianshu.registry.deregistrations"
)

// InstrumentRegistry returns r with metrics:
//
//   - tianshu.registry.instances{service}: instances in the last list a watcher returned;
//   - tianshu.registry.watch.errors{service}: errors Watch or Next returned (a stopped
//     watcher's ErrWatcherStopped aside);
//   - tianshu.registry.registrations{service, result, repeat}: Register calls, result "ok"
//     or "error"; repeat="true" when the instance had already been registered through r,
//     which is how a provider's re-registration (after a failed attempt or a lost session)
//     shows;
//   - tianshu.registry.deregistrations{service, result}.
//
// The result implements registry.HealthReporter when r does. Closing it closes r.
func InstrumentRegistry(r registry.Registry, mp metric.MeterProvider) (registry.Registry, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil registry", ErrInvalidOption)
	}
	m := mp.Meter(ScopeName)
	ir := &instrumented{inner: r, sizes: map[string]int64{}, seen: map[string]bool{}}
	var errs [4]error
	ir.instances, errs[0] = m.Int64ObservableGauge(RegistryInstancesName, metric.WithUnit("{instance}"),
		metric.WithDescription("Instances of the service in the last list a watcher received."))
	ir.watchErrs, errs[1] = m.Int64Counter(RegistryWatchErrorsName, metric.WithUnit("{error}"),
		metric.WithDescription("Errors returned while watching the service."))
	ir.regs, errs[2] = m.Int64Counter(RegistryRegistrationsName, metric.WithUnit("{call}"),
		metric.WithDescription("Register calls for the service's instances."))
	ir.deregs, errs[3] = m.Int64Counter(RegistryDeregistrationsName, metric.WithUnit("{call}"),
		metric.WithDescription("Deregister calls for the service's instances."))
	if err := joinErrs(errs[:]...); err != nil {
		return nil, fmt.Errorf("metrics: registry instruments: %w", err)
	}
	var err error
	if ir.reg, err = m.RegisterCallback(ir.observe, ir.instances); err != nil {
		return nil, fmt.Errorf("metrics: registry callback: %w", err)
	}
	if hr, ok := r.(registry.HealthReporter); ok {
		return &instrumentedHealth{instrumented: ir, hr: hr}, nil
	}
	return ir, nil
}

type instrumented struct {
	inner     registry.Registry
	instances metric.Int64ObservableGauge
	watchErrs metric.Int64Counter
	regs      metric.Int64Counter
	deregs    metric.Int64Counter
	reg       metric.Registration

	mu    sync.Mutex
	sizes map[string]int64 // service -> instances last seen
	seen  map[string]bool  // service/ID registered before
}

type instrumentedHealth struct {
	*instrumented
	hr registry.HealthReporter
}

// Healthy reports the wrapped registry's health.
func (r *instrumentedHealth) Healthy() bool { return r.hr.Healthy() }

func (r *instrumented) observe(_ context.Context, o metric.Observer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for svc, n := range r.sizes {
		o.ObserveInt64(r.instances, n, metric.WithAttributes(attribute.String("service", svc)))
	}
	return nil
}

func result(err error) attribute.KeyValue {
	if err != nil {
		return attribute.String("result", "error")
	}
	return attribute.String("result", "ok")
}

// Register registers in and counts the call.
func (r *instrumented) Register(ctx context.Context, in *registry.Instance) error {
	err := r.inner.Register(ctx, in)
	if in == nil {
		return err
	}
	key := in.Service + "\x00" + in.ID
	r.mu.Lock()
	repeat := r.seen[key]
	if err == nil {
		r.seen[key] = true
	}
	r.mu.Unlock()
	r.regs.Add(ctx, 1, metric.WithAttributes(attribute.String("service", in.Service), result(err),
		attribute.Bool("repeat", repeat)))
	return err
}

// Deregister deregisters in and counts the call.
func (r *instrumented) Deregister(ctx context.Context, in *registry.Instance) error {
	err := r.inner.Deregister(ctx, in)
	if in == nil {
		return err
	}
	if err == nil {
		r.mu.Lock()
		delete(r.seen, in.Service+"\x00"+in.ID)
		r.mu.Unlock()
	}
	r.deregs.Add(ctx, 1, metric.WithAttributes(attribute.String("service", in.Service), result(err)))
	return err
}

// GetService returns the inner registry's answer.
func (r *instrumented) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	return r.inner.GetService(ctx, service)
}

// Watch starts a watcher whose lists and errors are counted.
func (r *instrumented) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	w, err := r.inner.Watch(ctx, service)
	if err != nil {
		r.watchErr(ctx, service)
		return nil, err
	}
	return &watcher{Watcher: w, r: r, service: service}, nil
}

func (r *instrumented) watchErr(ctx context.Context, service string) {
	r.watchErrs.Add(ctx, 1, metric.WithAttributes(attribute.String("service", service)))
}

// Close stops reporting instance counts and closes the inner registry.
func (r *instrumented) Close() error { return errors.Join(r.reg.Unregister(), r.inner.Close()) }

type watcher struct {
	registry.Watcher
	r       *instrumented
	service string
}

// Next returns the inner watcher's next list, recording its size or its error.
func (w *watcher) Next() ([]*registry.Instance, error) {
	list, err := w.Watcher.Next()
	switch {
	case err == nil:
		w.r.mu.Lock()
		w.r.sizes[w.service] = int64(len(list))
		w.r.mu.Unlock()
	case !errors.Is(err, registry.ErrWatcherStopped):
		w.r.watchErr(context.Background(), w.service)
	}
	return list, err
}

func joinErrs(errs ...error) error { return errors.Join(errs...) }
