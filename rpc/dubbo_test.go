package rpc_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

// tripleEcho answers with its ID and the Triple headers it received.
type tripleEcho struct {
	testpb.UnimplementedEchoServer
	id string
}

func (e tripleEcho) Echo(ctx context.Context, _ *testpb.EchoRequest) (*testpb.EchoReply, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &testpb.EchoReply{ServedBy: fmt.Sprintf("%s %v %v", e.id, md.Get(rpc.TripleGroupHeader), md.Get(rpc.TripleVersionHeader))}, nil
}

func TestWithDubboCallsOnlyItsGroupAndVersionAndSendsTheTripleHeaders(t *testing.T) {
	reg := newRegistry(t)
	for _, p := range []struct{ id, group, version string }{
		{"blue-1", "blue", "1.0.0"}, {"blue-2", "blue", "2.0.0"}, {"green-1", "green", "1.0.0"},
	} {
		srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID(p.id), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0),
			rpc.WithVersion(p.version), rpc.WithMetadata(map[string]string{"group": p.group}))
		testpb.RegisterEchoServer(srv, tripleEcho{id: p.id})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	}
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithDubbo("blue", "1.0.0"), rpc.WithWaitReady())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := testpb.NewEchoClient(conn)
	for i := range 10 {
		r, err := c.Echo(context.Background(), &testpb.EchoRequest{})
		if err != nil || r.ServedBy != "blue-1 [blue] [1.0.0]" {
			t.Fatalf("call %d = %v, %v; want blue-1 with the blue and 1.0.0 headers", i, r, err)
		}
	}
}

// callError calls until the error contains want, for 10 s, and returns the last error.
func callError(t *testing.T, c testpb.EchoClient, want string) error {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err = c.Echo(context.Background(), &testpb.EchoRequest{}); strings.Contains(fmt.Sprint(err), want) {
			break
		}
	}
	return err
}

func TestWithDubboSaysWhichFilterRemovedEveryInstance(t *testing.T) {
	reg := newRegistry(t)
	for i := range 3 {
		in := &registry.Instance{ID: fmt.Sprint("green-", i), Service: "echo", Version: "2.0", Metadata: map[string]string{"group": "green"},
			Endpoints: []registry.Endpoint{{Scheme: "tri", Host: "127.0.0.1", Port: 1}}}
		if err := reg.Register(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ service, want string }{
		{"echo", `dubbo group "g" version "1.0" filter removed 3 of 3 instances of "echo"`},
		{"nobody", `the registry lists no instance of "nobody"`},
	} {
		conn, err := rpc.Dial(context.Background(), "tianshu:///"+c.service, rpc.WithDiscovery(reg), rpc.WithDubbo("g", "1.0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		if err := callError(t, testpb.NewEchoClient(conn), c.want); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), c.want) {
			t.Errorf("a call to %s = %v, want Unavailable saying %s", c.service, err, c.want)
		}
	}
}

func TestWithDubboSendsItsHeadersOnceToEveryInterceptorWhereverItStands(t *testing.T) {
	reg := newRegistry(t)
	errSeen := status.Error(codes.Aborted, "seen")
	for _, c := range []struct {
		name string
		opts func(grpc.UnaryClientInterceptor) []rpc.DialOption
	}{
		{"an interceptor given before WithDubbo", func(i grpc.UnaryClientInterceptor) []rpc.DialOption {
			return []rpc.DialOption{rpc.WithUnaryClientInterceptors(i), rpc.WithDubbo("blue", "1.0.0")}
		}},
		{"WithDubbo given twice", func(i grpc.UnaryClientInterceptor) []rpc.DialOption {
			return []rpc.DialOption{rpc.WithDubbo("blue", "1.0.0"), rpc.WithDubbo("blue", "1.0.0"), rpc.WithUnaryClientInterceptors(i)}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var seen metadata.MD
			capture := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ grpc.UnaryInvoker, _ ...grpc.CallOption) error {
				seen, _ = metadata.FromOutgoingContext(ctx)
				return errSeen
			}
			conn, err := rpc.Dial(context.Background(), "tianshu:///echo", append(c.opts(capture), rpc.WithDiscovery(reg))...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := testpb.NewEchoClient(conn).Echo(context.Background(), &testpb.EchoRequest{}); err != errSeen {
				t.Fatalf("call = %v, want the capturing interceptor's error", err)
			}
			if g, v := seen.Get(rpc.TripleGroupHeader), seen.Get(rpc.TripleVersionHeader); fmt.Sprint(g, v) != "[blue] [1.0.0]" {
				t.Errorf("the interceptor saw group %v and version %v, want [blue] [1.0.0]", g, v)
			}
		})
	}
}
