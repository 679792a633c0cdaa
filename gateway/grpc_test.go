package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/internal/testpb"
)

type echoServer struct {
	testpb.UnimplementedEchoServer
	id string
}

func (s echoServer) Echo(ctx context.Context, in *testpb.EchoRequest) (*testpb.EchoReply, error) {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-served-by", s.id))
	if string(in.Payload) == "fail" {
		return nil, status.Error(codes.FailedPrecondition, "asked to fail")
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &testpb.EchoReply{Payload: in.Payload, ServedBy: s.id + " " + strings.Join(md.Get("x-from"), ",")}, nil
}

func dialGateway(t testing.TB, base string) testpb.EchoClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(base, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testpb.NewEchoClient(conn)
}

func TestGRPCPassThrough(t *testing.T) {
	urlPort := startGRPC(t, "by-url")
	reg := registered(t, "echo", "grpc", startGRPC(t, "by-registry"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	doc := fmt.Sprintf(`
gateway:
  routes:
    - name: echo-registry
      match: {path: {prefix: /tianshu.test.Echo}, headers: {x-via: registry}}
      target: {service: echo, protocol: grpc}
      headers: {add: {x-from: gateway}}
    - name: echo-urls
      match: {path: {prefix: /tianshu.test.Echo}}
      target: {urls: ["http://127.0.0.1:%d"], protocol: grpc}
      headers: {add: {x-from: gateway}}
`, urlPort)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg))
	client := dialGateway(t, base)

	for _, tc := range []struct{ via, want string }{{"", "by-url gateway"}, {"registry", "by-registry gateway"}} {
		cctx := ctx
		if tc.via != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "x-via", tc.via)
		}
		var trailer metadata.MD
		reply, err := client.Echo(cctx, &testpb.EchoRequest{Payload: []byte("hi")}, grpc.Trailer(&trailer))
		if err != nil {
			t.Fatalf("via %q: %v", tc.via, err)
		}
		if string(reply.Payload) != "hi" || reply.ServedBy != tc.want {
			t.Errorf("via %q: reply %q from %q, want %q", tc.via, reply.Payload, reply.ServedBy, tc.want)
		}
		if got := trailer.Get("x-served-by"); len(got) != 1 || !strings.HasPrefix(tc.want, got[0]) {
			t.Errorf("via %q: trailer x-served-by %q lost on the way", tc.via, got)
		}
	}
	// An error status travels in the trailers, code and message intact.
	var trailer metadata.MD
	_, err := client.Echo(ctx, &testpb.EchoRequest{Payload: []byte("fail")}, grpc.Trailer(&trailer))
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "asked to fail" || len(trailer.Get("x-served-by")) != 1 {
		t.Errorf("an error through the gateway: %v, trailer %v", err, trailer)
	}
}

func TestGRPCNoRouteIsAStatus(t *testing.T) {
	_, base := newGateway(t, "gateway:\n  routes:\n    - {name: other, match: {path: {prefix: /other}}, target: {urls: [\"http://127.0.0.1:1\"]}}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := dialGateway(t, base).Echo(ctx, &testpb.EchoRequest{})
	if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), "no route") {
		t.Errorf("a call no route takes: %v, want NotFound", err)
	}
}
