package eureka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// probeWait bounds how long New waits for a first answer (the registry package's contract).
const probeWait = time.Second

// Registry is a registry.Registry over the REST API of one or more Eureka servers (see the
// package documentation).
type Registry struct {
	opts options
	c    *client
	log  *slog.Logger
	disc *discovery

	mu      sync.Mutex
	agents  map[string]*agent // by app/instance ID
	closed  bool
	lastTS  int64 // the last lastDirtyTimestamp given out, so that each is newer
	closing chan struct{}
}

var (
	_ registry.Registry       = (*Registry)(nil)
	_ registry.HealthReporter = (*Registry)(nil)
)

// New returns a Registry on the Eureka servers at serverURLs, each the REST root Spring's
// eureka.client.service-url.defaultZone names, such as http://10.0.0.1:8761/eureka. Requests
// go to the server that answered last and fail over to the others in turn.
//
// New waits about a second at most for a first answer. When no server answers, it returns a
// Registry anyway that registers and fetches once one does (the registry package's
// contract). A server that answers 404 where the API should be fails New with
// ErrInvalidConfig, one that answers 401 or 403 with ErrAuth; bad options and URLs with
// ErrInvalidConfig.
func New(ctx context.Context, serverURLs []string, opts ...Option) (*Registry, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	servers, err := parseServerURLs(serverURLs)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		opts:    o,
		c:       newClient(servers, &o),
		log:     o.log.With("registry", "eureka"),
		agents:  map[string]*agent{},
		closing: make(chan struct{}),
	}
	r.disc = newDiscovery(r)
	pctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	if err := r.probe(pctx); err != nil && !errors.Is(err, registry.ErrUnavailable) {
		r.c.close()
		return nil, err
	}
	return r, nil
}

// probe asks for the registry's changes, which tells a Eureka server from a wrong address or
// credentials at the price of a small answer. Eureka answers 403 there when deltas are off
// (eureka.server.disable-delta): then the full registry is fetched each time.
func (r *Registry) probe(ctx context.Context) error {
	resp, err := r.c.do(ctx, http.MethodGet, "/apps/delta", nil)
	if err != nil {
		return err
	}
	switch resp.status {
	case http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%w: no Eureka REST API at %s (GET /apps/delta answered 404; the URL must include the path, such as /eureka)", ErrInvalidConfig, resp.server)
	case http.StatusForbidden:
		full, err := r.c.do(ctx, http.MethodGet, "/apps/", nil)
		if err == nil && full.status == http.StatusOK {
			r.disc.noDelta.Store(true)
			return nil
		}
	}
	return statusError("GET /apps/delta", resp)
}

// Healthy reports whether the last request reached a server.
func (r *Registry) Healthy() bool { return r.c.healthy.Load() }

func agentKey(in *registry.Instance) string { return appName(in.Service) + "/" + in.ID }

// dirtyTimestamp returns a lastDirtyTimestamp newer than every one given out before: Eureka
// keeps the registration it holds when a new one is not dirtier, so an update registered
// within the same millisecond would be lost.
func (r *Registry) dirtyTimestamp() int64 {
	ts := time.Now().UnixMilli()
	if ts <= r.lastTS {
		ts = r.lastTS + 1
	}
	r.lastTS = ts
	return ts
}

// Register registers the instance, or replaces its data, and keeps its lease renewed until
// Deregister or Close. Its status is WithInitialStatus's (UP by default) unless SetStatus
// changed it. When no server answers within ctx, the error wraps registry.ErrUnavailable
// and the instance is registered in the background as soon as one does.
func (r *Registry) Register(ctx context.Context, in *registry.Instance) error {
	if err := in.Validate(); err != nil {
		return err
	}
	in = in.Clone()
	key := agentKey(in)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("eureka: register %s: %w", key, registry.ErrClosed)
	}
	a := r.agents[key]
	status := r.opts.status
	if a != nil {
		status = a.desired().status
	}
	info, err := encodeInstance(in, &r.opts, status, r.dirtyTimestamp())
	if err != nil {
		r.mu.Unlock()
		return err
	}
	if a == nil {
		a = newAgent(r, key, in, info)
		r.agents[key] = a
		go a.run()
	} else {
		a.update(in, info)
	}
	r.mu.Unlock()
	if err := a.syncNow(ctx); err != nil {
		return fmt.Errorf("eureka: register %s: %w", key, err)
	}
	return nil
}

// SetStatus changes the status of an instance registered through this Registry: StatusUp
// makes it discoverable, the others hide it from consumers (Tianshu's and Spring's) while
// its lease is kept. OUT_OF_SERVICE is set as Eureka's status override, as an operator
// would, because Eureka ignores a registration that moves an UP instance to it; the other
// statuses are registered. The status outlives server restarts. The instance is named by
// its service and ID. Errors: ErrInvalidStatus, ErrNotRegistered, and
// registry.ErrUnavailable when no server answers within ctx (the change is made once one
// does).
func (r *Registry) SetStatus(ctx context.Context, in *registry.Instance, s Status) error {
	if !s.valid() {
		return fmt.Errorf("%w %q: want UP, DOWN, STARTING or OUT_OF_SERVICE", ErrInvalidStatus, s)
	}
	if err := in.ValidateKey(); err != nil {
		return err
	}
	key := agentKey(in)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("eureka: set status of %s: %w", key, registry.ErrClosed)
	}
	a := r.agents[key]
	if a == nil {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotRegistered, key)
	}
	a.setStatus(s, r.dirtyTimestamp())
	r.mu.Unlock()
	if err := a.syncNow(ctx); err != nil {
		return fmt.Errorf("eureka: set status of %s to %s: %w", key, s, err)
	}
	return nil
}

// Deregister cancels the instance's lease, so that it leaves Eureka at once (Spring's
// clients see it leave after the server's response cache and their fetch interval), and
// stops renewing it. An instance this Registry does not hold is cancelled all the same;
// one Eureka does not know is not an error.
func (r *Registry) Deregister(ctx context.Context, in *registry.Instance) error {
	if err := in.ValidateKey(); err != nil {
		return err
	}
	key := agentKey(in)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("eureka: deregister %s: %w", key, registry.ErrClosed)
	}
	a := r.agents[key]
	delete(r.agents, key)
	r.mu.Unlock()
	if a != nil {
		a.stop()
	}
	if err := r.cancel(ctx, appName(in.Service), in.ID); err != nil {
		return fmt.Errorf("eureka: deregister %s: %w", key, err)
	}
	return nil
}

// Close cancels the leases of every instance registered here (within the request timeout),
// stops the watchers and releases the connections.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.closing)
	agents := r.agents
	r.agents = nil
	r.mu.Unlock()

	r.disc.close()
	var wg sync.WaitGroup
	errs := make(chan error, len(agents))
	for key, a := range agents {
		wg.Go(func() {
			a.stop()
			ctx, cancel := context.WithTimeout(context.Background(), r.opts.timeout)
			defer cancel()
			if err := r.cancel(ctx, a.app, a.id); err != nil {
				errs <- fmt.Errorf("eureka: close: deregister %s: %w", key, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	r.c.close()
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// register sends one registration.
func (r *Registry) register(ctx context.Context, info *instanceJSON) error {
	body, err := json.Marshal(map[string]*instanceJSON{"instance": info})
	if err != nil {
		return err
	}
	resp, err := r.c.do(ctx, http.MethodPost, "/apps/"+url.PathEscape(info.App), body)
	if err != nil {
		return err
	}
	if resp.status != http.StatusNoContent && resp.status != http.StatusOK {
		return statusError("register", resp)
	}
	return nil
}

// errLeaseUnknown is a renewal's 404: the server does not hold the lease (it restarted,
// or evicted the instance) and the instance must be registered again.
var errLeaseUnknown = errors.New("eureka: the server does not know the instance")

func (r *Registry) renew(ctx context.Context, app, id string) error {
	resp, err := r.c.do(ctx, http.MethodPut, instancePath(app, id), nil)
	if err != nil {
		return err
	}
	switch resp.status {
	case http.StatusOK, http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		return errLeaseUnknown
	}
	return statusError("renew", resp)
}

func (r *Registry) cancel(ctx context.Context, app, id string) error {
	resp, err := r.c.do(ctx, http.MethodDelete, instancePath(app, id), nil)
	if err != nil {
		return err
	}
	switch resp.status {
	case http.StatusOK, http.StatusNoContent, http.StatusNotFound:
		return nil
	}
	return statusError("cancel", resp)
}

// override sets (PUT) or removes (DELETE) the status override of an instance; removing it
// also sets the instance's status to s.
func (r *Registry) override(ctx context.Context, method, app, id string, s Status, dirty int64) error {
	q := url.Values{"value": {string(s)}, "lastDirtyTimestamp": {fmt.Sprint(dirty)}}
	resp, err := r.c.do(ctx, method, instancePath(app, id)+"/status?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	switch resp.status {
	case http.StatusOK, http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		return errLeaseUnknown
	}
	return statusError("status override", resp)
}

func instancePath(app, id string) string {
	return "/apps/" + url.PathEscape(app) + "/" + url.PathEscape(id)
}

// GetService reads the service's application from the server: its UP instances.
func (r *Registry) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	if err := registry.ValidateName("service", service); err != nil {
		return nil, err
	}
	if r.isClosed() {
		return nil, fmt.Errorf("eureka: get %s: %w", service, registry.ErrClosed)
	}
	resp, err := r.c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(appName(service)), nil)
	if err != nil {
		return nil, fmt.Errorf("eureka: get %s: %w", service, err)
	}
	switch resp.status {
	case http.StatusNotFound:
		return []*registry.Instance{}, nil
	case http.StatusOK:
	default:
		return nil, fmt.Errorf("eureka: get %s: %w", service, statusError("GET application", resp))
	}
	app, err := parseApplication(resp.body)
	if err != nil {
		return nil, fmt.Errorf("eureka: get %s from %s: %w", service, resp.server, err)
	}
	byID := make(map[string]*instanceJSON, len(app.Instance))
	for _, in := range app.Instance {
		byID[in.id()] = in
	}
	return r.disc.decodeList(service, byID), nil
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}
