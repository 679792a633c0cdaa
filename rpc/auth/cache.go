package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Cache is a Verifier that remembers the tokens another one accepted, so that a token
// presented again is not verified again: a JWT's signature check and claim parsing cost
// microseconds, a lookup here a hash of the token and a map read. An entry lasts until
// the credentials expire (Principal.Expires) or the cache's TTL passes, whichever comes
// first, so a verifier whose keys rotate or whose tokens can be revoked is asked again
// within the TTL. Refused tokens are not remembered. Tokens are kept as SHA-256 digests,
// never in clear. A cache holding its size forgets every entry at the next insertion:
// cheap, and bounded.
//
// The principals it returns share their Claims and Scopes with every other call of the
// same token: treat them as read-only, as the interceptor's handlers do.
type Cache struct {
	v       Verifier
	ttl     time.Duration
	size    int64
	entries atomic.Pointer[sync.Map] // [32]byte -> cached
	n       atomic.Int64
	now     func() time.Time
}

type cached struct {
	p     Principal
	until time.Time
}

// NewCache returns a Cache in front of v holding at most size tokens for at most ttl each.
// Errors wrap ErrInvalidConfig.
func NewCache(v Verifier, ttl time.Duration, size int) (*Cache, error) {
	if v == nil || ttl <= 0 || size <= 0 {
		return nil, fmt.Errorf("%w: NewCache(%T, %v, %d): want a verifier, a positive TTL and size", ErrInvalidConfig, v, ttl, size)
	}
	c := &Cache{v: v, ttl: ttl, size: int64(size), now: time.Now}
	c.entries.Store(new(sync.Map))
	return c, nil
}

// Verify answers from the cache when token was accepted before and is still valid, and
// asks the verifier otherwise.
func (c *Cache) Verify(ctx context.Context, token string) (Principal, error) {
	key := sha256.Sum256([]byte(token))
	m := c.entries.Load()
	now := c.now()
	if e, ok := m.Load(key); ok {
		if e := e.(*cached); now.Before(e.until) {
			return e.p, nil
		}
		m.Delete(key)
	}
	p, err := c.v.Verify(ctx, token)
	if err != nil {
		return p, err
	}
	until := now.Add(c.ttl)
	if !p.Expires.IsZero() && p.Expires.Before(until) {
		until = p.Expires
	}
	if c.n.Add(1) > c.size {
		m = new(sync.Map)
		c.entries.Store(m)
		c.n.Store(1)
	}
	m.Store(key, &cached{p: p, until: until})
	return p, nil
}
