package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
)

// grpcCreds returns the server option of TLS with a certificate the CA issued for 127.0.0.1
// and name, demanding a client certificate the CA signed.
func (ca *testCA) grpcCreds(name string) grpc.ServerOption {
	ca.t.Helper()
	cert, key := ca.issue(name, true)
	cfg, err := rpc.NewServerTLSConfig(rpc.TLSFiles{CertFile: cert, KeyFile: key, CAFile: ca.file}, "h2")
	if err != nil {
		ca.t.Fatal(err)
	}
	return grpc.Creds(credentials.NewTLS(cfg))
}

// TestGRPCPassThroughOverMutualTLS: a gRPC upstream that demands a client certificate is
// reached over h2 with the one the route's tls names, at a URL and as a registry service
// with a grpcs endpoint; without the certificate the call ends UNAVAILABLE.
func TestGRPCPassThroughOverMutualTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	urlPort := startGRPC(t, "by-url", ca.grpcCreds("localhost"))
	reg := registered(t, "echo", "grpcs", startGRPC(t, "by-registry", ca.grpcCreds("echo")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gwCert, gwKey := ca.issue("gateway", false)
	doc := fmt.Sprintf(`
gateway:
  routes:
    - {name: svc, match: {path: {prefix: /tianshu.test.Echo}, headers: {x-via: registry}}, target: {service: echo, protocol: grpc, tls: {caFile: %[2]q, certFile: %[3]q, keyFile: %[4]q}}}
    - {name: nocert, match: {path: {prefix: /tianshu.test.Echo}, headers: {x-via: nocert}}, target: {urls: ["https://127.0.0.1:%[1]d"], protocol: grpc, tls: {caFile: %[2]q}}}
    - {name: url, match: {path: {prefix: /tianshu.test.Echo}}, target: {urls: ["https://127.0.0.1:%[1]d"], protocol: grpc, tls: {caFile: %[2]q, certFile: %[3]q, keyFile: %[4]q}}}
`, urlPort, ca.file, gwCert, gwKey)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg), gateway.WithLogger(quiet()))
	client := dialGateway(t, base)
	for _, tc := range []struct{ via, want string }{{"", "by-url "}, {"registry", "by-registry "}} {
		cctx := ctx
		if tc.via != "" {
			cctx = metadata.AppendToOutgoingContext(ctx, "x-via", tc.via)
		}
		reply, err := client.Echo(cctx, &testpb.EchoRequest{Payload: []byte("hi")})
		if err != nil || reply.ServedBy != tc.want {
			t.Errorf("via %q: %v, %v; want served by %q", tc.via, reply, err, tc.want)
		}
	}
	_, err := client.Echo(metadata.AppendToOutgoingContext(ctx, "x-via", "nocert"), &testpb.EchoRequest{Payload: []byte("hi")})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("without a client certificate: %v, want UNAVAILABLE", err)
	}
}
