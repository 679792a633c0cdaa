package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// HealthMethods is the pattern of gRPC health checking, public by default so that load
// balancers and orchestrators can probe without a token.
const HealthMethods = "/grpc.health.v1.Health/*"

// Rule is the allow list of a method: a caller passes if its subject is one of Subjects or
// it holds one of Scopes. A Rule with neither admits every authenticated caller.
type Rule struct {
	Subjects []string
	Scopes   []string
}

func (r Rule) allows(p Principal) bool {
	if len(r.Subjects) == 0 && len(r.Scopes) == 0 {
		return true
	}
	return slices.Contains(r.Subjects, p.Subject) || slices.ContainsFunc(r.Scopes, p.HasScope)
}

// Option configures New.
type Option func(*Interceptor)

// WithRule sets the allow list of the methods matching pattern: a full method
// "/pkg.Service/Method", every method of a service "/pkg.Service/*", or "*" for every method
// with no more specific rule. A method that matches no rule admits any authenticated caller,
// unless WithDefaultDeny.
func WithRule(pattern string, r Rule) Option {
	return func(i *Interceptor) { i.rules[pattern] = r; i.patterns = append(i.patterns, pattern) }
}

// WithPublic lets calls of the methods matching the patterns (as in WithRule) through without
// a token; HealthMethods is public unless WithoutPublicHealth.
func WithPublic(patterns ...string) Option {
	return func(i *Interceptor) {
		for _, p := range patterns {
			i.public[p] = true
		}
		i.patterns = append(i.patterns, patterns...)
	}
}

// WithoutPublicHealth makes health checks need a token like every other method.
func WithoutPublicHealth() Option { return func(i *Interceptor) { delete(i.public, HealthMethods) } }

// WithDefaultDeny refuses authenticated callers of methods that match no rule, so that a
// method added later is closed until someone writes its rule.
func WithDefaultDeny() Option { return func(i *Interceptor) { i.defaultDeny = true } }

// WithLogger sets the logger of refusals (at Info, with method, peer and reason; never the
// token); the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(i *Interceptor) { i.log = l } }

// Interceptor authenticates and authorizes calls; see the package documentation.
type Interceptor struct {
	verifier    Verifier
	rules       map[string]Rule
	public      map[string]bool
	patterns    []string
	defaultDeny bool
	log         *slog.Logger
}

// New returns an Interceptor asking v who the callers are. Errors wrap ErrInvalidConfig and
// name the malformed pattern.
func New(v Verifier, opts ...Option) (*Interceptor, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: a Verifier is required", ErrInvalidConfig)
	}
	i := &Interceptor{verifier: v, rules: map[string]Rule{}, public: map[string]bool{HealthMethods: true}, log: slog.Default()}
	for _, opt := range opts {
		opt(i)
	}
	for _, p := range i.patterns {
		if err := checkPattern(p); err != nil {
			return nil, err
		}
	}
	return i, nil
}

func checkPattern(p string) error {
	if p == "*" {
		return nil
	}
	svc, method, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if !strings.HasPrefix(p, "/") || !ok || svc == "" || method == "" || strings.Contains(method, "/") ||
		strings.Contains(svc, "*") || strings.Contains(method, "*") && method != "*" {
		return fmt.Errorf("%w: method pattern %q: want /pkg.Service/Method, /pkg.Service/* or *", ErrInvalidConfig, p)
	}
	return nil
}

// lookup returns the most specific entry of m matching the full method.
func lookup[V any](m map[string]V, method string) (V, bool) {
	if v, ok := m[method]; ok {
		return v, true
	}
	if i := strings.LastIndexByte(method, '/'); i > 0 {
		if v, ok := m[method[:i]+"/*"]; ok {
			return v, true
		}
	}
	v, ok := m["*"]
	return v, ok
}

// authorize returns the context the handler runs with, or the status to answer.
func (i *Interceptor) authorize(ctx context.Context, method string) (context.Context, error) {
	if pub, _ := lookup(i.public, method); pub {
		return ctx, nil
	}
	token, err := bearer(ctx)
	if err != nil {
		i.refuse(ctx, method, "", err)
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	p, err := i.verifier.Verify(ctx, token)
	if err != nil {
		msg := Redact(err.Error(), token)
		if !errors.Is(err, ErrInvalidCredentials) {
			msg = ErrInvalidCredentials.Error() + ": " + msg
		}
		i.refuse(ctx, method, "", errors.New(msg))
		return nil, status.Error(codes.Unauthenticated, msg)
	}
	rule, ok := lookup(i.rules, method)
	if ok && !rule.allows(p) || !ok && i.defaultDeny {
		err := fmt.Errorf("%w: %q may not call %s", ErrPermissionDenied, p.Subject, method)
		i.refuse(ctx, method, p.Subject, err)
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	return NewContext(ctx, p), nil
}

func (i *Interceptor) refuse(ctx context.Context, method, subject string, reason error) {
	attrs := []any{"method", method, "reason", reason.Error()}
	if pr, ok := peer.FromContext(ctx); ok {
		attrs = append(attrs, "peer", pr.Addr.String())
	}
	if subject != "" {
		attrs = append(attrs, "subject", subject)
	}
	i.log.LogAttrs(ctx, slog.LevelInfo, "call refused", slog.Group("auth", attrs...))
}

// Redact returns msg, a verifier's refusal, without token and without each long
// dot-separated part of it (a JWT's header, claims and signature), so that an error
// written to a caller or a log never carries a credential.
func Redact(msg, token string) string {
	if token == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, token, "[redacted]")
	for part := range strings.SplitSeq(token, ".") {
		if len(part) >= 8 {
			msg = strings.ReplaceAll(msg, part, "[redacted]")
		}
	}
	return msg
}

// BearerToken returns the token of the one "Bearer <token>" value in values: a gRPC call's
// authorization metadata, or an HTTP request's Authorization headers. Errors wrap
// ErrMissingCredentials (no value, or an empty token) or ErrInvalidCredentials (several
// values, another scheme).
func BearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", ErrMissingCredentials
	}
	if len(values) > 1 {
		return "", fmt.Errorf("%w: %d authorization headers, want one", ErrInvalidCredentials, len(values))
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", fmt.Errorf("%w: authorization header is not of the form \"Bearer <token>\"", ErrInvalidCredentials)
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", ErrMissingCredentials
	}
	return token, nil
}

// bearer returns the token of the call's "authorization: Bearer <token>" header.
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return BearerToken(md.Get("authorization"))
}

// Unary returns the interceptor for unary calls; put it after recovery and tracing.
func (i *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := i.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream returns the interceptor for streaming calls.
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := i.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
	}
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }
