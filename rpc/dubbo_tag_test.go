package rpc_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
)

// tagEcho answers with its ID and the dubbo.tag header it received.
type tagEcho struct {
	testpb.UnimplementedEchoServer
	id string
}

func (e tagEcho) Echo(ctx context.Context, _ *testpb.EchoRequest) (*testpb.EchoReply, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &testpb.EchoReply{ServedBy: fmt.Sprintf("%s %v", e.id, md.Get(rpc.DubboTag))}, nil
}

func TestWithDubboTagRoutesByProvidersDubboTag(t *testing.T) {
	reg := newRegistry(t)
	for _, p := range []struct{ id, tag string }{{"plain", ""}, {"gray", "gray"}} {
		md := map[string]string{"group": "g"}
		if p.tag != "" {
			md[rpc.DubboTag] = p.tag
		}
		srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID(p.id), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0),
			rpc.WithVersion("1.0.0"), rpc.WithMetadata(md))
		testpb.RegisterEchoServer(srv, tagEcho{id: p.id})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	}
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithDubbo("g", "1.0.0"), rpc.WithWaitReady())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := testpb.NewEchoClient(conn)
	// WithWaitReady waits for one provider; until the plain one is connected too, an untagged
	// call falls back to the gray one, which is the balancer's rule for no ready match.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if r, err := c.Echo(context.Background(), &testpb.EchoRequest{}); err == nil && strings.HasPrefix(r.ServedBy, "plain") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plain provider served no untagged call within 10 s")
		}
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"untagged calls keep off tagged providers", context.Background(), "plain []"},
		{"a gray call goes to the gray provider and carries the header", rpc.WithDubboTag(context.Background(), "gray"), "gray [gray]"},
		{"a tag no provider has falls back to the untagged", rpc.WithDubboTag(context.Background(), "blue"), "plain [blue]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 20 {
				r, err := c.Echo(tc.ctx, &testpb.EchoRequest{})
				if err != nil || !strings.EqualFold(r.ServedBy, tc.want) {
					t.Fatalf("call %d = %v, %v; want %q", i, r, err, tc.want)
				}
			}
		})
	}
}

func ExampleWithDubboTag() {
	// Calls made with ctx go to the providers tagged gray (dubbo.tag=gray, or named by a
	// tag router of Dubbo Admin), and to the untagged ones when no provider is gray.
	ctx := rpc.WithDubboTag(context.Background(), "gray")
	md, _ := metadata.FromOutgoingContext(ctx)
	fmt.Println(md.Get(rpc.DubboTag))
	// Output: [gray]
}
