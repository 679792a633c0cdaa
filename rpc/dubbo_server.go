package rpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/registry"
)

// DubboMetadataSource is offered by a registrar that registers providers at Dubbo 3's
// application level (registry/zookeeper with LayoutDubbo, registry/nacos with
// WithDubboNaming, in their default register mode): a Dubbo consumer that finds the
// provider's application instance asks the provider itself, on the port it serves on, for
// the metadata of the revision the instance announces (MetadataServiceV2, over Triple).
//
// When the registrar given to WithRegistrar offers it and DubboApplicationLevel is true,
// NewServer serves MetadataServiceV2 from it. That call skips the server rules' limits and
// the application's interceptors (WithUnaryServerInterceptors; an rpc/auth interceptor, for
// example): a Java consumer sends no credentials with it, and the answer tells no more than
// the interface-level URLs in the registry already do. Telemetry and panic recovery still
// apply. It is found through wrappers that unwrap (registry.Find), as registry.Failover does.
type DubboMetadataSource interface {
	// DubboApplicationLevel reports whether the registrar registers at application level.
	DubboApplicationLevel() bool
	// DubboMetadata returns the metadata of revision, false when it announces no such
	// revision.
	DubboMetadata(revision string) (dubbo.MetadataInfo, bool)
}

// dubboMetadataMethod is the one method the server answers without the application's
// interceptors.
const dubboMetadataMethod = metadatapb.MetadataServiceV2_GetMetadataInfo_FullMethodName

// dubboMetadataOf returns r's DubboMetadataSource when it registers at application level.
func dubboMetadataOf(r registry.Registrar) DubboMetadataSource {
	src, ok := registry.Find[DubboMetadataSource](r)
	if !ok || !src.DubboApplicationLevel() {
		return nil
	}
	return src
}

// exemptDubboMetadata returns the unary chain with every link after the first (telemetry
// and recovery) skipped for MetadataServiceV2.
func exemptDubboMetadata(unary []grpc.UnaryServerInterceptor) []grpc.UnaryServerInterceptor {
	if len(unary) < 2 {
		return unary
	}
	rest := unary[1:]
	skip := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if info.FullMethod == dubboMetadataMethod {
			return handler(ctx, req)
		}
		return chainUnary(rest, ctx, req, info, handler)
	}
	return []grpc.UnaryServerInterceptor{unary[0], skip}
}

func chainUnary(is []grpc.UnaryServerInterceptor, ctx context.Context, req any, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) (any, error) {
	if len(is) == 0 {
		return final(ctx, req)
	}
	return is[0](ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return chainUnary(is[1:], ctx, req, info, final)
	})
}

// registerDubboMetadata serves MetadataServiceV2 from src on s.
func registerDubboMetadata(s *grpc.Server, src DubboMetadataSource) {
	metadataservice.Register(s, pbSource{src})
}

// pbSource answers from a DubboMetadataSource in MetadataServiceV2's message.
type pbSource struct{ src DubboMetadataSource }

func (p pbSource) Metadata(revision string) (*metadatapb.MetadataInfoV2, bool) {
	md, ok := p.src.DubboMetadata(revision)
	if !ok {
		return nil, false
	}
	return metadataservice.ToProto(md, revision), true
}
