package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT verifies JSON Web Tokens with github.com/golang-jwt/jwt/v5: the signature with a key
// and an algorithm family fixed in advance (never the one the token names, which is how
// "alg: none" and key-confusion attacks work), the expiry (required), and the issuer and
// audience when configured.
type JWT struct {
	parser *jwt.Parser
	key    jwt.Keyfunc
	scope  string
}

// JWTOption configures NewJWT.
type JWTOption func(*jwtOptions)

type jwtOptions struct {
	issuer, audience, scope string
	leeway                  time.Duration
	methods                 []string
}

// WithIssuer requires the "iss" claim to equal iss.
func WithIssuer(iss string) JWTOption { return func(o *jwtOptions) { o.issuer = iss } }

// WithAudience requires the "aud" claim to contain aud.
func WithAudience(aud string) JWTOption { return func(o *jwtOptions) { o.audience = aud } }

// WithLeeway tolerates clock skew of d when checking "exp", "nbf" and "iat".
func WithLeeway(d time.Duration) JWTOption { return func(o *jwtOptions) { o.leeway = d } }

// WithScopeClaim names the claim the scopes are read from: a space-separated string (OAuth 2,
// the default claim "scope") or an array of strings (as Azure's "scp").
func WithScopeClaim(name string) JWTOption { return func(o *jwtOptions) { o.scope = name } }

// WithMethods sets the signing algorithms accepted (for instance "RS256"). It is required
// when the key is a jwt.Keyfunc and otherwise narrows the family the key type allows.
func WithMethods(algs ...string) JWTOption { return func(o *jwtOptions) { o.methods = algs } }

// NewJWT returns a verifier of tokens signed with key: a []byte HMAC secret (HS256/384/512),
// an *rsa.PublicKey (RS*, PS*), an *ecdsa.PublicKey (ES*), an ed25519.PublicKey (EdDSA), or
// a jwt.Keyfunc choosing the key per token (a JWKS cache, key rotation) together with
// WithMethods. Errors wrap ErrInvalidConfig.
func NewJWT(key any, opts ...JWTOption) (*JWT, error) {
	o := jwtOptions{scope: "scope"}
	for _, opt := range opts {
		opt(&o)
	}
	var family []string
	var kf jwt.Keyfunc
	switch k := key.(type) {
	case []byte:
		if len(k) < 32 {
			return nil, fmt.Errorf("%w: an HMAC secret of %d bytes is guessable; use 32 or more", ErrInvalidConfig, len(k))
		}
		family = []string{"HS256", "HS384", "HS512"}
	case *rsa.PublicKey:
		family = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		family = []string{"ES256", "ES384", "ES512"}
	case ed25519.PublicKey:
		family = []string{"EdDSA"}
	case jwt.Keyfunc:
		if len(o.methods) == 0 {
			return nil, fmt.Errorf("%w: a jwt.Keyfunc needs auth.WithMethods naming the accepted algorithms", ErrInvalidConfig)
		}
		kf = k
	case func(*jwt.Token) (any, error):
		if len(o.methods) == 0 {
			return nil, fmt.Errorf("%w: a key function needs auth.WithMethods naming the accepted algorithms", ErrInvalidConfig)
		}
		kf = k
	default:
		return nil, fmt.Errorf("%w: unsupported JWT key type %T", ErrInvalidConfig, key)
	}
	methods := o.methods
	if family != nil {
		for _, m := range methods {
			if !slices.Contains(family, m) {
				return nil, fmt.Errorf("%w: algorithm %q does not fit a key of type %T", ErrInvalidConfig, m, key)
			}
		}
		if len(methods) == 0 {
			methods = family
		}
		kf = func(*jwt.Token) (any, error) { return key, nil }
	}
	popts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithExpirationRequired(), jwt.WithLeeway(o.leeway)}
	if o.issuer != "" {
		popts = append(popts, jwt.WithIssuer(o.issuer))
	}
	if o.audience != "" {
		popts = append(popts, jwt.WithAudience(o.audience))
	}
	return &JWT{parser: jwt.NewParser(popts...), key: kf, scope: o.scope}, nil
}

// Verify checks token and returns its subject, scopes and claims. Errors wrap
// ErrInvalidCredentials and say what was wrong (expired, bad signature, wrong issuer) but
// never quote the token.
func (v *JWT) Verify(_ context.Context, token string) (Principal, error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.key); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidCredentials, err)
	}
	sub, _ := claims.GetSubject()
	if sub == "" {
		return Principal{}, fmt.Errorf("%w: token has no subject", ErrInvalidCredentials)
	}
	p := Principal{Subject: sub, Scopes: scopes(claims[v.scope]), Claims: claims}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		p.Expires = exp.Time
	}
	return p, nil
}

func scopes(c any) []string {
	switch s := c.(type) {
	case string:
		return strings.Fields(s)
	case []any:
		out := make([]string, 0, len(s))
		for _, x := range s {
			if str, ok := x.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}
