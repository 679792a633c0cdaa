package rpc

import (
	"context"

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
// and version would: it dials the instances' tri:// endpoints (grpc:// ones too), keeps the
// instances whose version is version and whose "group" metadata is group (Dubbo's URL
// parameters, as registry/zookeeper's Dubbo layout and registry/nacos's Dubbo naming read
// them), and sends the tri-service-group and tri-service-version headers on every call. An
// empty group or version matches instances without one, as in Dubbo.
func WithDubbo(group, version string) DialOption {
	return func(o *dialOptions) {
		if o.schemes == nil {
			o.schemes = []string{"tri", "grpc"}
		}
		o.dubbo = &dubboService{group: group, version: version}
		md := metadata.Pairs(TripleGroupHeader, group, TripleVersionHeader, version)
		if group == "" {
			md = metadata.Pairs(TripleVersionHeader, version)
		}
		o.unary = append(o.unary, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(appendMD(ctx, md), method, req, reply, cc, opts...)
		})
		o.stream = append(o.stream, func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(appendMD(ctx, md), desc, cc, method, opts...)
		})
	}
}

func appendMD(ctx context.Context, md metadata.MD) context.Context {
	out, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		return metadata.NewOutgoingContext(ctx, md)
	}
	return metadata.NewOutgoingContext(ctx, metadata.Join(out, md))
}

// dubboService filters a Discovery down to one Dubbo group and version.
type dubboService struct{ group, version string }

func (s *dubboService) keep(in *registry.Instance) bool {
	return in.Version == s.version && in.Metadata["group"] == s.group
}

func (s *dubboService) discovery(d registry.Discovery) registry.Discovery {
	return dubboDiscovery{d: d, s: s}
}

type dubboDiscovery struct {
	d registry.Discovery
	s *dubboService
}

func (d dubboDiscovery) filter(list []*registry.Instance) []*registry.Instance {
	out := make([]*registry.Instance, 0, len(list))
	for _, in := range list {
		if d.s.keep(in) {
			out = append(out, in)
		}
	}
	return out
}

func (d dubboDiscovery) GetService(ctx context.Context, service string) ([]*registry.Instance, error) {
	list, err := d.d.GetService(ctx, service)
	return d.filter(list), err
}

func (d dubboDiscovery) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	w, err := d.d.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	return &dubboWatcher{Watcher: w, d: d}, nil
}

// dubboWatcher keeps the Watcher contract after filtering: a change in another group or
// version is not a change of this list, so Next waits for the next one that is.
type dubboWatcher struct {
	registry.Watcher
	d        dubboDiscovery
	last     []*registry.Instance
	returned bool
}

func (w *dubboWatcher) Next() ([]*registry.Instance, error) {
	for {
		list, err := w.Watcher.Next()
		if err != nil {
			return nil, err
		}
		list = w.d.filter(list)
		if w.returned && registry.EqualLists(list, w.last) {
			continue
		}
		w.returned, w.last = true, list
		return list, nil
	}
}
