package loadbalance

import (
	"log/slog"

	"google.golang.org/grpc/resolver"
)

// loggerKey keys the channel's logger in resolver.State.Attributes. grpc gives a balancer
// nothing per channel at Build but what the resolver reports, so the logger travels there,
// as the instance travels in an endpoint's attributes.
type loggerKey struct{}

// WithLogger returns s carrying l for the channel's Tianshu balancer, which then logs through
// l (with its name and the target added) instead of slog.Default(). The resolver of package
// rpc attaches rpc.WithDialLogger's logger to every state it reports; a state without one
// leaves the balancer's logger as it was.
func WithLogger(s resolver.State, l *slog.Logger) resolver.State {
	if l != nil {
		s.Attributes = s.Attributes.WithValue(loggerKey{}, l)
	}
	return s
}

// loggerOf returns the logger stored by WithLogger, or nil.
func loggerOf(s resolver.State) *slog.Logger {
	l, _ := s.Attributes.Value(loggerKey{}).(*slog.Logger)
	return l
}
