package loadbalance

import (
	"context"
	"math/rand/v2"

	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
)

type tagKey struct{}

type hashKey struct{}

// WithTag returns a context whose calls ask for instances tagged tag (canary routing). It
// stays in this process; to pass the tag on to the services a call reaches, send it as
// metadata under TagHeader instead, which the balancers read too.
func WithTag(ctx context.Context, tag string) context.Context {
	return context.WithValue(ctx, tagKey{}, tag)
}

// WithHashKey returns a context whose calls carry key for the consistent-hash balancer:
// calls with equal keys go to the same endpoint while it is there.
func WithHashKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, hashKey{}, key)
}

// tagOf reads a call's tag: the context value first, then the metadata. Neither allocates
// unless the tag was added with metadata.AppendToOutgoingContext.
func tagOf(ctx context.Context) string {
	if t, ok := ctx.Value(tagKey{}).(string); ok {
		return t
	}
	if v := metadata.ValueFromOutgoingContext(ctx, TagHeader); len(v) > 0 {
		return v[0]
	}
	return ""
}

// hashOf reads a call's hash key like tagOf; ok is false when the call carries none.
func hashOf(ctx context.Context, header string) (h uint64, ok bool) {
	if k, ok := ctx.Value(hashKey{}).(string); ok {
		return pick.HashKey(k), true
	}
	if v := metadata.ValueFromOutgoingContext(ctx, header); len(v) > 0 {
		return pick.HashKey(v[0]), true
	}
	return 0, false
}

// randUint64 is the random source of hash picks without a key.
func randUint64() uint64 { return rand.Uint64() }
