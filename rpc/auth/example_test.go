package auth_test

import (
	"context"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/auth"
)

func ExampleNewJWT() {
	key := []byte("a-32-byte-or-longer-hmac-secret!!")
	v, err := auth.NewJWT(key, auth.WithIssuer("https://login.example.com"))
	if err != nil {
		panic(err)
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "iss": "https://login.example.com", "scope": "orders.read", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(key)
	p, err := v.Verify(context.Background(), token)
	fmt.Println(p.Subject, p.Scopes, err)
	// Output: alice [orders.read] <nil>
}

func ExampleNew() {
	tokens := auth.StaticTokens(map[string]auth.Principal{"token-from-a-secret-store": {Subject: "billing"}})
	a, err := auth.New(tokens,
		auth.WithRule("/orders.Orders/*", auth.Rule{Subjects: []string{"billing"}}),
		auth.WithRule("/orders.Orders/Delete", auth.Rule{Scopes: []string{"orders.admin"}}),
		auth.WithDefaultDeny())
	if err != nil {
		panic(err)
	}
	srv := rpc.NewServer(rpc.WithUnaryServerInterceptors(a.Unary()), rpc.WithStreamServerInterceptors(a.Stream()))
	defer srv.Stop()
	fmt.Println("guarded")
	// Output: guarded
}

func ExampleBearer() {
	creds := auth.Bearer("token-from-a-secret-store")
	// On a whole channel: rpc.WithGRPCDialOptions(grpc.WithPerRPCCredentials(creds));
	// on one call: grpc.PerRPCCredentials(creds). Printing it shows no secret.
	_ = rpc.WithGRPCDialOptions(grpc.WithPerRPCCredentials(creds))
	fmt.Println(creds)
	// Output: auth.Bearer([redacted])
}
