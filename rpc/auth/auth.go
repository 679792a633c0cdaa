package auth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"
)

// Errors of this package; verifiers wrap ErrInvalidCredentials, New wraps ErrInvalidConfig.
// The interceptor turns them into gRPC statuses: Unauthenticated for the first two,
// PermissionDenied for the third.
var (
	// ErrMissingCredentials: the call carries no bearer token.
	ErrMissingCredentials = errors.New("auth: missing bearer token")
	// ErrInvalidCredentials: the token is malformed, expired, badly signed or unknown.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrPermissionDenied: the caller is known but not allowed to call the method.
	ErrPermissionDenied = errors.New("auth: permission denied")
	// ErrInvalidConfig: an option that cannot work, such as a malformed method pattern.
	ErrInvalidConfig = errors.New("auth: invalid configuration")
)

// Principal is the authenticated caller of one call.
type Principal struct {
	// Subject names the caller: a JWT's "sub", a static token's owner.
	Subject string
	// Scopes are the permissions the caller was granted, matched by Rule.Scopes.
	Scopes []string
	// Claims are all claims of a JWT, nil for other verifiers. They are never logged.
	Claims map[string]any
	// Expires is when the credentials stop being valid (a JWT's "exp"); zero when they
	// carry no end. A Cache forgets them then.
	Expires time.Time
}

// HasScope reports whether the principal was granted scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// LogValue logs the subject and scopes only: claims may carry personal data.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.String("subject", p.Subject), slog.Any("scopes", p.Scopes))
}

// Verifier tells who presented a token. It is called once per call, from the call's
// goroutine, so it must be safe for concurrent use and should not block for long (cache any
// remote lookup). An unknown or bad token answers an error wrapping ErrInvalidCredentials;
// the error's text reaches the caller and the logs with the token itself redacted, but a
// verifier should still not quote parts of it.
type Verifier interface {
	Verify(ctx context.Context, token string) (Principal, error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, token string) (Principal, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, token string) (Principal, error) {
	return f(ctx, token)
}

type principalKey struct{}

// NewContext returns ctx carrying p, as the interceptor passes it to handlers.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller of the call whose context this is; ok is false on public
// methods and outside the interceptor.
func FromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}
