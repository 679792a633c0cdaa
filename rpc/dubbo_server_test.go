package rpc_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/auth"
	"github.com/tianshu-go/tianshu/rules"
)

// appLevelRegistry stands for a backend in its Dubbo mode: a registrar that offers the
// metadata of the revision it announces.
type appLevelRegistry struct {
	*memory.Registry
	on bool
	md dubbo.MetadataInfo
}

func (r appLevelRegistry) DubboApplicationLevel() bool { return r.on }

func (r appLevelRegistry) DubboMetadata(revision string) (dubbo.MetadataInfo, bool) {
	if revision != r.md.Revision() {
		return dubbo.MetadataInfo{}, false
	}
	return r.md, true
}

// refuseAll stands for an authentication interceptor: a Java consumer's metadata call
// carries no token.
func refuseAll(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
	return nil, status.Error(codes.Unauthenticated, "no token")
}

func serveAppLevel(t *testing.T, reg appLevelRegistry, interceptors ...grpc.UnaryServerInterceptor) *grpc.ClientConn {
	t.Helper()
	if interceptors == nil {
		interceptors = []grpc.UnaryServerInterceptor{refuseAll}
	}
	return serveAppLevelWith(t, reg, rpc.WithUnaryServerInterceptors(interceptors...))
}

func serveAppLevelWith(t *testing.T, reg appLevelRegistry, opts ...rpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	srv := rpc.NewServer(append([]rpc.ServerOption{rpc.WithService("tianshu.test.v1.Greeter"), rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger())}, opts...)...)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestServerServesDubboMetadataPastTheApplicationsInterceptors(t *testing.T) {
	md := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{
		Name: "tianshu.test.v1.Greeter", Protocol: "tri", Port: 50051, Path: "tianshu.test.v1.Greeter",
		Params: map[string]string{"application": "greeter", "warmup": "0"},
	})
	conn := serveAppLevel(t, appLevelRegistry{Registry: newRegistry(t), on: true, md: md})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := metadataservice.Fetch(ctx, conn, "greeter", md.Revision())
	if err != nil {
		t.Fatalf("Fetch through a server whose interceptor refuses every call: %v", err)
	}
	s := got.GetServices()["tianshu.test.v1.Greeter:tri"]
	if s.GetPort() != 50051 || s.GetParams()["warmup"] != "0" || got.GetApp() != "greeter" {
		t.Errorf("answer %v", got)
	}
	if _, err := metadataservice.Fetch(ctx, conn, "greeter", "deadbeef"); !errors.Is(err, metadataservice.ErrUnknownRevision) {
		t.Errorf("Fetch of an unknown revision = %v, want ErrUnknownRevision", err)
	}
	// Every other call still meets the application's interceptors.
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("health check = %v, want the interceptor's Unauthenticated", err)
	}
}

func TestServerServesNoDubboMetadataWithoutApplicationLevel(t *testing.T) {
	md := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "x.Y", Protocol: "tri", Port: 1, Path: "x.Y"})
	conn := serveAppLevel(t, appLevelRegistry{Registry: newRegistry(t), on: false, md: md})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := metadataservice.Fetch(ctx, conn, "greeter", md.Revision())
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Fetch = %v, want Unimplemented: no MetadataServiceV2 without application level", err)
	}
}

// The same with Tianshu's own JWT authentication, closed by default: a Java consumer, which
// has no token, still gets the metadata, and nothing else.
func TestServerServesDubboMetadataPastJWTAuthentication(t *testing.T) {
	v, err := auth.NewJWT([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(v, auth.WithDefaultDeny(), auth.WithoutPublicHealth(), auth.WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	md := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "x.Y", Protocol: "tri", Port: 1, Path: "x.Y"})
	conn := serveAppLevel(t, appLevelRegistry{Registry: newRegistry(t), on: true, md: md}, a.Unary())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := metadataservice.Fetch(ctx, conn, "greeter", md.Revision()); err != nil {
		t.Errorf("Fetch without a token: %v", err)
	}
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("health check without a token = %v, want Unauthenticated", err)
	}
}

// A server rule limiting every method ("*") limits the application's methods, not the
// metadata calls of Dubbo consumers, which come once per consumer and revision.
func TestServerRulesDoNotLimitDubboMetadata(t *testing.T) {
	st, err := rules.NewStore(&rules.Rules{Services: map[string]rules.Service{
		"tianshu.test.v1.Greeter": {Limits: map[string]rules.Limit{"*": {Rate: 0.001, Burst: 1}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	md := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "x.Y", Protocol: "tri", Port: 1, Path: "x.Y"})
	conn := serveAppLevelWith(t, appLevelRegistry{Registry: newRegistry(t), on: true, md: md}, rpc.WithServerRules(st))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := metadataservice.Fetch(ctx, conn, "greeter", md.Revision()); err != nil {
			t.Fatalf("Fetch %d under a limit of one call: %v", i, err)
		}
	}
	var codesSeen []codes.Code
	for range 2 {
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		codesSeen = append(codesSeen, status.Code(err))
	}
	if codesSeen[1] != codes.ResourceExhausted {
		t.Errorf("two health checks under a limit of one call gave %v, want the second refused", codesSeen)
	}
}

// The failover cache in front of the backend does not hide its metadata.
func TestServerFindsDubboMetadataThroughFailover(t *testing.T) {
	md := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "x.Y", Protocol: "tri", Port: 1, Path: "x.Y"})
	srv := rpc.NewServer(rpc.WithService("x.Y"), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger()),
		rpc.WithRegistrar(registry.NewFailover(appLevelRegistry{Registry: newRegistry(t), on: true, md: md})))
	t.Cleanup(srv.Stop) // its stream workers run from NewServer on
	if _, ok := srv.GetServiceInfo()[metadatapb.MetadataServiceV2_ServiceDesc.ServiceName]; !ok {
		t.Fatalf("services %v: no MetadataServiceV2 behind registry.NewFailover", srv.GetServiceInfo())
	}
}
