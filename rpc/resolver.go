package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"google.golang.org/grpc/resolver"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
)

// Scheme is the URL scheme of targets resolved through a Tianshu registry.
const Scheme = "tianshu"

// Errors of Dial and of the resolver, wrapped with details.
var (
	// ErrInvalidTarget: the target is not of the form tianshu:///<service>.
	ErrInvalidTarget = errors.New("rpc: invalid target")
	// ErrNoDiscovery: Dial was given no registry to resolve the target with.
	ErrNoDiscovery = errors.New("rpc: no discovery configured")
	// ErrNoInstances: the registry lists no usable instance of the service.
	ErrNoInstances = errors.New("rpc: no instance available")
)

// ParseTarget returns the service named by a target of the form tianshu:///<service>.
func ParseTarget(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("%w %q: %w; want tianshu:///<service>", ErrInvalidTarget, target, err)
	}
	return serviceOf(target, u)
}

func serviceOf(target string, u *url.URL) (string, error) {
	if u.Scheme != Scheme || u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("%w %q: want tianshu:///<service>, for example tianshu:///orders", ErrInvalidTarget, target)
	}
	name := u.Path[1:]
	if err := registry.ValidateName("service", name); err != nil {
		return "", fmt.Errorf("%w %q: want tianshu:///<service>: %w", ErrInvalidTarget, target, err)
	}
	return name, nil
}

// resolverBuilder builds resolvers over one Discovery. It is passed to each ClientConn with
// grpc.WithResolvers, never registered globally, so two clients may use two registries.
type resolverBuilder struct {
	discovery registry.Discovery
	schemes   []string
	dubbo     *dubboService // nil without WithDubbo
	log       *slog.Logger
	rules     *rules.Store // nil without WithRules
}

func (b *resolverBuilder) Scheme() string { return Scheme }

// Build starts following the service. It never fails on a sick registry: the watch is
// (re)established in the background and errors reach the channel through ReportError, so
// that a consumer started before its registry connects itself when the registry comes up.
func (b *resolverBuilder) Build(target resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	service, err := serviceOf(target.String(), &target.URL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &discoveryResolver{b: b, service: service, cc: cc, cancel: cancel, done: make(chan struct{}), skipped: map[string]bool{}}
	go r.run(ctx)
	return r, nil
}

type discoveryResolver struct {
	b       *resolverBuilder
	service string
	cc      resolver.ClientConn
	cancel  context.CancelFunc
	done    chan struct{}

	skipped map[string]bool // instance IDs already logged as unusable; run goroutine only
}

// ResolveNow does nothing: the registry pushes every change.
func (r *discoveryResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close stops the watch. The channel calls it when it goes idle and builds a new resolver
// when it leaves idle, so nothing may outlive it.
func (r *discoveryResolver) Close() {
	r.cancel()
	<-r.done
}

// run follows the service until Close. A watch that cannot start, fails or ends is retried
// with backoff (a watcher failing at once must not spin a core), and every error reaches the
// channel; a closed registry ends the resolver.
func (r *discoveryResolver) run(ctx context.Context) {
	defer close(r.done)
	backoff.Follower[[]*registry.Instance]{
		Policy: backoff.Default,
		Open: func(ctx context.Context) (backoff.Stream[[]*registry.Instance], error) {
			w, err := r.b.discovery.Watch(ctx, r.service)
			if err != nil {
				return nil, err
			}
			return w, nil
		},
		Value: r.update,
		Error: func(err error) bool {
			r.cc.ReportError(fmt.Errorf("rpc: watch %q: %w", r.service, err))
			return !errors.Is(err, registry.ErrClosed)
		},
		Ended: func(err error) bool { return errors.Is(err, registry.ErrWatcherStopped) },
	}.Follow(ctx)
}

func (r *discoveryResolver) update(list []*registry.Instance) {
	listed := len(list)
	if r.b.dubbo != nil {
		list = r.b.dubbo.keep(list)
	}
	eps := make([]resolver.Endpoint, 0, len(list))
	for _, in := range list {
		e, ok := in.Endpoint(r.b.schemes...)
		if !ok {
			if !r.skipped[in.ID] {
				r.skipped[in.ID] = true
				r.b.log.Log(context.Background(), skipLevel(in), "skipping an instance with no endpoint this client speaks", "service", r.service, "instance", in.ID, "endpoints", in.Endpoints, "want schemes", r.b.schemes)
			}
			continue
		}
		eps = append(eps, loadbalance.WithInstance(resolver.Endpoint{Addresses: []resolver.Address{{Addr: e.Addr()}}}, in))
	}
	// An empty list is passed on too: the service really has no instance (a sick registry's
	// empty lists are held back by registry.Failover), and the error says so.
	state := loadbalance.WithLogger(resolver.State{Endpoints: eps}, r.b.log)
	_ = r.cc.UpdateState(loadbalance.WithRules(state, r.b.rules, r.service))
	switch {
	case len(eps) > 0:
	case listed > 0 && len(list) == 0:
		r.cc.ReportError(fmt.Errorf("%w: the %v filter removed %d of %d instances of %q; give rpc.WithDubbo the group and version the providers announce",
			ErrNoInstances, r.b.dubbo, listed, listed, r.service))
	default:
		r.cc.ReportError(fmt.Errorf("%w: the registry lists no instance of %q with an endpoint of scheme %v", ErrNoInstances, r.service, r.b.schemes))
	}
}

// skipLevel is the level of the line saying that in is skipped: a warning (a TLS mismatch, a
// scheme nobody serves), except for an instance that serves only HTTP, the REST side of a
// service answering both gRPC and HTTP under one name (tianshu new writes one), which no
// gRPC client is meant to call.
func skipLevel(in *registry.Instance) slog.Level {
	if in.ServesOnly("http", "https") {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
