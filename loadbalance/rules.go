package loadbalance

import (
	"context"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"

	"github.com/tianshu-go/tianshu/rules"
)

// rulesKey keys the channel's governance rules in resolver.State.Attributes, as loggerKey
// does its logger.
type rulesKey struct{}

type rulesValue struct {
	store   *rules.Store
	service string
}

// WithRules returns s carrying the rules store of the channel's service for its Tianshu
// balancer, which then applies the service's rules (instance overrides, routes; see
// rules.Compile) and builds its picker again on every change of the rules, without
// reconnecting: a weight change or an instance taken out of traffic changes only which
// connection calls take. The resolver of package rpc attaches rpc.WithRules's store to
// every state it reports.
func WithRules(s resolver.State, store *rules.Store, service string) resolver.State {
	if store != nil {
		s.Attributes = s.Attributes.WithValue(rulesKey{}, rulesValue{store: store, service: service})
	}
	return s
}

func rulesOf(s resolver.State) (rulesValue, bool) {
	v, ok := s.Attributes.Value(rulesKey{}).(rulesValue)
	return v, ok
}

// mdHeader reads a call's outgoing metadata for route matching. Records are pooled by the
// picker: boxing a context in an interface would allocate per call. A call that carries a
// key some route matches on still costs one small allocation, grpc-go's copy of the value
// in ValueFromOutgoingContext (there is no public way to read it without); tag routes
// (WithTag) cost none.
type mdHeader struct{ ctx context.Context }

func (h *mdHeader) Get(name string) string {
	if v := metadata.ValueFromOutgoingContext(h.ctx, name); len(v) > 0 {
		return v[0]
	}
	return ""
}
