package auth

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// counting accepts tokens starting with "ok" until expires (zero: no end) and counts calls.
type counting struct {
	calls   atomic.Int64
	expires time.Time
}

func (c *counting) Verify(_ context.Context, token string) (Principal, error) {
	c.calls.Add(1)
	if len(token) < 2 || token[:2] != "ok" {
		return Principal{}, fmt.Errorf("%w: not ok", ErrInvalidCredentials)
	}
	return Principal{Subject: token, Expires: c.expires}, nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestCache(t *testing.T, inner Verifier, ttl time.Duration, size int) (*Cache, *clock) {
	t.Helper()
	c, err := NewCache(inner, ttl, size)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	c.now = clk.now
	return c, clk
}

func TestCacheVerifiesATokenOnceUntilItExpiresOrTheTTLPasses(t *testing.T) {
	ctx := context.Background()
	t.Run("the TTL", func(t *testing.T) {
		inner := &counting{}
		c, clk := newTestCache(t, inner, time.Minute, 10)
		for range 3 {
			if p, err := c.Verify(ctx, "ok-a"); err != nil || p.Subject != "ok-a" {
				t.Fatalf("Verify = %+v, %v", p, err)
			}
		}
		if n := inner.calls.Load(); n != 1 {
			t.Fatalf("the verifier was asked %d times for one token, want 1", n)
		}
		clk.t = clk.t.Add(61 * time.Second)
		_, _ = c.Verify(ctx, "ok-a")
		if n := inner.calls.Load(); n != 2 {
			t.Errorf("after the TTL the verifier was asked %d times in all, want 2", n)
		}
	})
	t.Run("the credentials' end", func(t *testing.T) {
		inner := &counting{}
		c, clk := newTestCache(t, inner, time.Hour, 10)
		inner.expires = clk.t.Add(time.Second)
		_, _ = c.Verify(ctx, "ok-b")
		clk.t = clk.t.Add(2 * time.Second)
		_, _ = c.Verify(ctx, "ok-b")
		if n := inner.calls.Load(); n != 2 {
			t.Errorf("after the token's expiry the verifier was asked %d times in all, want 2", n)
		}
	})
	t.Run("refusals are not kept", func(t *testing.T) {
		inner := &counting{}
		c, _ := newTestCache(t, inner, time.Hour, 10)
		for range 2 {
			if _, err := c.Verify(ctx, "bad"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Verify(bad) = %v, want ErrInvalidCredentials", err)
			}
		}
		if n := inner.calls.Load(); n != 2 {
			t.Errorf("the verifier was asked %d times for two refusals, want 2", n)
		}
	})
	t.Run("the size", func(t *testing.T) {
		inner := &counting{}
		c, _ := newTestCache(t, inner, time.Hour, 2)
		for _, tok := range []string{"ok-1", "ok-2", "ok-3", "ok-3", "ok-1"} {
			_, _ = c.Verify(ctx, tok)
		}
		// ok-3 found a full cache and started a new one: ok-1 is asked for again.
		if n := inner.calls.Load(); n != 4 {
			t.Errorf("the verifier was asked %d times, want 4", n)
		}
	})
}

func TestCacheOfAJWTEndsWithTheToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := NewJWT(secret)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "exp": exp.Unix()}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil || !p.Expires.Equal(exp) {
		t.Fatalf("Verify = %v (Expires %v), want Expires %v", err, p.Expires, exp)
	}
}

func TestNewCacheRefusesWhatCannotWork(t *testing.T) {
	for _, c := range []struct {
		v    Verifier
		ttl  time.Duration
		size int
	}{{nil, time.Minute, 1}, {&counting{}, 0, 1}, {&counting{}, time.Minute, 0}} {
		if _, err := NewCache(c.v, c.ttl, c.size); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewCache(%v, %v, %d) = %v, want ErrInvalidConfig", c.v, c.ttl, c.size, err)
		}
	}
}

func BenchmarkJWTCached(b *testing.B) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, _ := NewJWT(secret)
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(secret)
	c, _ := NewCache(v, time.Minute, 1000)
	for _, bc := range []struct {
		name string
		v    Verifier
	}{{"uncached", v}, {"cached", c}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.v.Verify(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
