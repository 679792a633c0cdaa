package rpc

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/registry"
)

// Headers with which a Dubbo 3 Triple client names the group and version of the service it
// calls: one Triple port may export an interface several times, and the server routes by
// these.
const (
	TripleGroupHeader   = "tri-service-group"
	TripleVersionHeader = "tri-service-version"
)

// WithDubbo makes the connection call a Dubbo 3 service as a Dubbo consumer of that group
// and version would: it dials the instances' tri:// endpoints (grpc:// ones too) unless
// WithEndpointSchemes says otherwise, keeps the instances whose version is version and
// whose "group" metadata is group (Dubbo's URL parameters, as registry/zookeeper's Dubbo
// layout and registry/nacos's Dubbo naming read them), and sends the tri-service-group and
// tri-service-version headers on every call. An empty group or version matches instances
// without one, as in Dubbo. Its place among the options does not matter (a later WithDubbo
// replaces an earlier one), and every interceptor the application adds sees the headers.
// When the filter keeps no instance, calls fail Unavailable with an error naming the group,
// the version and how many instances they removed.
//
// When the registry is a dubbo.ConsumerRegistrar (registry/zookeeper in Dubbo's layout,
// registry/nacos with WithDubboConsumers), the connection is listed among the service's
// consumers, as Java Dubbo consumers are, until it closes.
func WithDubbo(group, version string) DialOption {
	return func(o *dialOptions) { o.dubbo = &dubboService{group: group, version: version} }
}

// dubboService is the group and version a WithDubbo connection calls.
type dubboService struct{ group, version string }

func (s *dubboService) String() string {
	return fmt.Sprintf("dubbo group %q version %q", s.group, s.version)
}

// keep returns the instances of list in the group and version, in a new slice: list is
// the registry's and must not change.
func (s *dubboService) keep(list []*registry.Instance) []*registry.Instance {
	out := make([]*registry.Instance, 0, len(list))
	for _, in := range list {
		if in.Version == s.version && in.Metadata["group"] == s.group {
			out = append(out, in)
		}
	}
	return out
}

// interceptors send the Triple headers of the group and version on every call.
func (s *dubboService) interceptors() (grpc.UnaryClientInterceptor, grpc.StreamClientInterceptor) {
	kv := []string{TripleGroupHeader, s.group, TripleVersionHeader, s.version}
	if s.group == "" {
		kv = kv[2:]
	}
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, kv...), method, req, reply, cc, opts...)
		}, func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(metadata.AppendToOutgoingContext(ctx, kv...), desc, cc, method, opts...)
		}
}
