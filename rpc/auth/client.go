package auth

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/credentials"
)

// CredentialOption configures Bearer and TokenSource.
type CredentialOption func(*perRPC)

// AllowInsecure lets the token travel over a plaintext connection. Without it grpc refuses
// to send it ("cannot send secure credentials on an insecure connection"), so that a
// misconfigured channel cannot leak it. Meant for tests and loopback.
func AllowInsecure() CredentialOption { return func(c *perRPC) { c.insecure = true } }

type perRPC struct {
	token    func(ctx context.Context) (string, error)
	insecure bool
}

// Bearer returns per-call credentials sending "authorization: Bearer <token>"; give them to a
// channel (grpc.WithPerRPCCredentials) or to one call (grpc.PerRPCCredentials). They print as
// "[redacted]" so that logging them is harmless.
func Bearer(token string, opts ...CredentialOption) credentials.PerRPCCredentials {
	return TokenSource(func(context.Context) (string, error) { return token, nil }, opts...)
}

// TokenSource is Bearer with a token fetched for each call, for tokens that expire and are
// refreshed (cache inside f: it runs on every call). An error from f fails the call with
// Unavailable.
func TokenSource(f func(ctx context.Context) (string, error), opts ...CredentialOption) credentials.PerRPCCredentials {
	c := &perRPC{token: f}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func (c *perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: fetch token: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (c *perRPC) RequireTransportSecurity() bool { return !c.insecure }

// String, GoString and LogValue keep the token out of fmt and slog output.
func (c *perRPC) String() string             { return "auth.Bearer([redacted])" }
func (c *perRPC) GoString() string           { return c.String() }
func (c *perRPC) LogValue() slog.Value       { return slog.StringValue(c.String()) }
func (c *perRPC) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }
