package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
	"github.com/tianshu-go/tianshu/telemetry"
)

// DefaultBalancer is the load-balancing policy Dial configures unless WithBalancer says
// otherwise: power of two choices over EWMA latency, in-flight calls and success rate,
// which steers traffic away from slow or failing instances.
const DefaultBalancer = loadbalance.P2C

// ErrNoRules is wrapped by Dial's error when WithRules is given a nil store.
var ErrNoRules = errors.New("rpc: no rules store")

// ErrUnknownBalancer is wrapped by Dial's error when WithBalancer names no Tianshu
// balancer; the error lists the names there are.
var ErrUnknownBalancer = errors.New("rpc: unknown balancer")

// DialOption configures Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	discovery registry.Discovery
	balancer  string
	routing   loadbalance.Config
	schemes   []string
	creds     credentials.TransportCredentials
	unary     []grpc.UnaryClientInterceptor
	stream    []grpc.StreamClientInterceptor
	grpcOpts  []grpc.DialOption
	waitReady bool
	log       *slog.Logger
	telemetry *telemetry.Handler
	noTelem   bool
	dubbo     *dubboService
	rules     *rules.Store
	rulesSet  bool
}

// WithDiscovery sets the registry that resolves tianshu:/// targets. Required.
func WithDiscovery(d registry.Discovery) DialOption { return func(o *dialOptions) { o.discovery = d } }

// WithBalancer selects a Tianshu load-balancing policy by name (loadbalance.P2C,
// loadbalance.RoundRobin, ...; loadbalance.Names lists them). Dial rejects another name
// with ErrUnknownBalancer.
func WithBalancer(name string) DialOption { return func(o *dialOptions) { o.balancer = name } }

// WithRouting configures the balancer: version and zone filters, the metadata key of
// canary tags, the hash header, and tuning (see loadbalance.Config).
func WithRouting(c loadbalance.Config) DialOption { return func(o *dialOptions) { o.routing = c } }

// WithEndpointSchemes sets which instance endpoints the client dials, in order of
// preference; the default is "grpc", or "grpcs" with secure transport credentials (see
// tls.go for the rules). Instances with none of them are skipped and logged.
func WithEndpointSchemes(schemes ...string) DialOption {
	return func(o *dialOptions) { o.schemes = schemes }
}

// WithTransportCredentials sets the channel's transport security (NewClientTLS, for one);
// the default is plaintext. It also decides which endpoint scheme is dialled by default.
func WithTransportCredentials(c credentials.TransportCredentials) DialOption {
	return func(o *dialOptions) { o.creds = c }
}

// WithUnaryClientInterceptors appends client interceptors, outermost first.
func WithUnaryClientInterceptors(is ...grpc.UnaryClientInterceptor) DialOption {
	return func(o *dialOptions) { o.unary = append(o.unary, is...) }
}

// WithStreamClientInterceptors appends stream client interceptors, outermost first.
func WithStreamClientInterceptors(is ...grpc.StreamClientInterceptor) DialOption {
	return func(o *dialOptions) { o.stream = append(o.stream, is...) }
}

// WithGRPCDialOptions passes options through to grpc.NewClient, after Tianshu's own.
func WithGRPCDialOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.grpcOpts = append(o.grpcOpts, opts...) }
}

// WithClientTelemetry records spans and metrics of the connection's calls through h, a
// telemetry.NewClientHandler shared by the application's connections (share one: each
// handler with an in-flight gauge registers a callback until its Close). By default Dial
// makes a handler over OpenTelemetry's global providers, without the in-flight gauge. Dial
// fails, naming the mistake, when h was made by NewServerHandler.
func WithClientTelemetry(h *telemetry.Handler) DialOption {
	return func(o *dialOptions) { o.telemetry = h }
}

// WithoutClientTelemetry leaves out the tracing and metrics interceptors.
func WithoutClientTelemetry() DialOption { return func(o *dialOptions) { o.noTelem = true } }

// WithWaitReady makes Dial wait, within its context, until the channel has connected to at
// least one instance.
func WithWaitReady() DialOption { return func(o *dialOptions) { o.waitReady = true } }

// WithDialLogger sets the logger of the connection's resolver and balancer; the default is
// slog.Default().
func WithDialLogger(l *slog.Logger) DialOption { return func(o *dialOptions) { o.log = l } }

// WithRules applies the governance rules of store to the connection's service: the
// balancer follows its instance overrides and routes (see rules.Compile), building its
// picker again on every change without reconnecting, and each unary call gets its
// method's policy (rules.PolicyFor), read per call so that a change applies to the next
// call:
//
//   - the timeout, when the caller's deadline is later or absent; it bounds the call with
//     its retries;
//
//   - the retries: a call of a method whose policy has them is retried as package retry
//     retries (retry.DefaultPolicy's backoff, only Unavailable, never a breaker's
//     refusal, within the deadline) up to the rule's attempts, drawing on a budget of the
//     rule's share of the method's calls (10% when unset) with 10 retries saved up. A
//     retries rule declares its methods safe to send twice. It replaces the
//     application's retries: an interceptor of package retry among
//     WithUnaryClientInterceptors sends such a call's attempts once each (retry.Handled),
//     and still retries the methods without a retries rule. Each attempt passes the
//     application's interceptors (its breaker) again.
//
//   - the breaker: a method whose policy has one is guarded by a circuit
//     (breaker.Circuit) with the rule's thresholds, judging each attempt; a refused call
//     fails with Unavailable naming the method, wrapping breaker.ErrOpen. New thresholds
//     start a closed circuit. It replaces the application's breaker: an interceptor of
//     package breaker among WithUnaryClientInterceptors lets such a call through
//     (breaker.Handled), and still guards the methods without a breaker rule.
//
// Streams are left alone by these: a "*" timeout meant for unary calls would end every
// long-lived stream, and a stream cannot be replayed. The balancer ejects instances by the
// outlier rule of the service's "*" policy (ejection is per instance, not per method),
// read when a call fails at the transport, over the loadbalance config's thresholds.
// Dial fails with ErrNoRules when store is nil.
func WithRules(store *rules.Store) DialOption {
	return func(o *dialOptions) { o.rules, o.rulesSet = store, true }
}

// Dial returns a client for target, which must be tianshu:///<service>. The connection is
// a plain *grpc.ClientConn: generated stubs, interceptors and every grpc tool work as usual.
// ctx bounds Dial itself, which returns at once unless WithWaitReady is given. Errors wrap
// ErrInvalidTarget, ErrNoDiscovery, ErrUnknownBalancer or ErrNoRules.
func Dial(ctx context.Context, target string, opts ...DialOption) (*grpc.ClientConn, error) {
	o := dialOptions{balancer: DefaultBalancer, creds: insecure.NewCredentials(), log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	service, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if o.rulesSet && o.rules == nil {
		return nil, fmt.Errorf("%w for %q: WithRules was given nil; pass the store of rules.NewStore or rules.Watch", ErrNoRules, target)
	}
	if o.discovery == nil {
		return nil, fmt.Errorf("%w for %q: pass rpc.WithDiscovery(registry)", ErrNoDiscovery, target)
	}
	if !slices.Contains(loadbalance.Names(), o.balancer) {
		return nil, fmt.Errorf("%w %q for %q: want one of %s (the constants of package loadbalance)",
			ErrUnknownBalancer, o.balancer, target, strings.Join(loadbalance.Names(), ", "))
	}
	unary, stream := o.unary, o.stream
	if o.dubbo != nil {
		// Decided here, not in WithDubbo, so that the options' order does not matter and
		// the application's interceptors all see the Triple headers.
		if o.schemes == nil {
			o.schemes = []string{"tri", "grpc"}
		}
		if o.routing.TagKey == "" {
			o.routing.TagKey = DubboTag // providers' tags, as Dubbo URLs carry them
		}
		u, s := o.dubbo.interceptors()
		unary = append([]grpc.UnaryClientInterceptor{u}, unary...)
		stream = append([]grpc.StreamClientInterceptor{s}, stream...)
	}
	if o.rules != nil {
		// Inside telemetry, so that the span shows the deadline the call really had; the
		// timeout bounds the call with its retries, and each retry passes the
		// application's interceptors (its breaker) again.
		brk := &rulesBreakers{store: o.rules, service: service, log: func(method string, err error) {
			o.log.Warn("rules: breaker rule not applied", "service", service, "method", method, "err", err)
		}}
		unary = append([]grpc.UnaryClientInterceptor{rulesTimeout(o.rules, service),
			newRulesRetrier(o.rules, service).intercept, brk.intercept}, unary...)
	}
	schemes, err := endpointSchemes(o.creds, o.schemes) // the rules are in tls.go
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %q: %w", target, err)
	}
	o.schemes = schemes
	gopts := []grpc.DialOption{
		grpc.WithResolvers(&resolverBuilder{discovery: o.discovery, schemes: o.schemes, dubbo: o.dubbo, log: o.log, rules: o.rules}),
		grpc.WithTransportCredentials(o.creds),
		grpc.WithDefaultServiceConfig(o.routing.ServiceConfig(o.balancer)),
	}
	if !o.noTelem {
		// Outermost, so one span covers the call with its retries and breaker decisions.
		h := o.telemetry
		if h == nil {
			h = telemetry.NewClientHandler(telemetry.WithoutActiveCalls())
		} else if h.IsServer() {
			return nil, fmt.Errorf("rpc: dial %q: WithClientTelemetry given a handler made by telemetry.NewServerHandler; use telemetry.NewClientHandler", target)
		}
		first := h.UnaryClientInterceptor()
		if len(unary) > 0 {
			// Telemetry calls the next link itself: grpc-go's chain allocates a closure
			// per link and call.
			first = h.UnaryClientInterceptorThen(unary[0])
			unary = unary[1:]
		}
		unary = append([]grpc.UnaryClientInterceptor{first}, unary...)
		stream = append([]grpc.StreamClientInterceptor{h.StreamClientInterceptor()}, stream...)
	}
	if len(unary) > 0 {
		gopts = append(gopts, grpc.WithChainUnaryInterceptor(unary...))
	}
	if len(stream) > 0 {
		gopts = append(gopts, grpc.WithChainStreamInterceptor(stream...))
	}
	conn, err := grpc.NewClient(target, append(gopts, o.grpcOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %q: %w", target, err)
	}
	if o.dubbo != nil {
		o.dubbo.registerConsumer(ctx, conn, o.discovery, service, o.log)
	}
	if o.waitReady {
		conn.Connect()
		for s := conn.GetState(); s != connectivity.Ready; s = conn.GetState() {
			if !conn.WaitForStateChange(ctx, s) {
				_ = conn.Close()
				return nil, fmt.Errorf("rpc: dial %q: not ready (last state %v): %w", target, s, ctx.Err())
			}
		}
	}
	return conn, nil
}

// rulesTimeout bounds each unary call by its method's policy timeout, unless the caller's
// own deadline comes first. The policy is read per call, so a change applies at once.
func rulesTimeout(store *rules.Store, service string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if p, ok := store.Load().PolicyFor(service, method); ok && p.Timeout > 0 {
			if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > p.Timeout {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, p.Timeout)
				defer cancel()
			}
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
