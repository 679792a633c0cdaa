package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
)

// FuzzAuthorizationHeader feeds the header parser and the JWT verifier what any caller can
// send: neither may panic, every refusal wraps this package's sentinels, and no error quotes
// the token once redacted.
func FuzzAuthorizationHeader(f *testing.F) {
	for _, s := range []string{"", "Bearer ", "Bearer abc", "bearer a.b.c", "Basic x", "Bearer  eyJhbGciOiJub25lIn0.e30.", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.sig", "Bearer\ta"} {
		f.Add(s)
	}
	v, err := NewJWT([]byte(strings.Repeat("k", 32)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", header))
		token, err := bearer(ctx)
		if err != nil {
			if !errors.Is(err, ErrMissingCredentials) && !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("bearer(%q) = %v, want a sentinel", header, err)
			}
			return
		}
		if token == "" || token != strings.TrimSpace(token) {
			t.Fatalf("bearer(%q) = %q, want a trimmed non-empty token", header, token)
		}
		if _, err := v.Verify(ctx, token); err != nil {
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Verify(%q) = %v, want ErrInvalidCredentials", token, err)
			}
			if len(token) >= 8 && strings.Contains(Redact(err.Error(), token), token) {
				t.Fatalf("redacted error still quotes the token %q", token)
			}
		}
	})
}
