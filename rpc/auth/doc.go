// Package auth authenticates and authorizes gRPC calls with bearer tokens.
//
// On the server, an [Interceptor] reads the "authorization: Bearer <token>" header of each
// call, asks a pluggable [Verifier] who the caller is (a [JWT] verifier and a table of
// [StaticTokens] are included), checks the caller against per-method allow lists, and puts
// the [Principal] in the handler's context. Refusals answer Unauthenticated or
// PermissionDenied. On the client, [Bearer] and [TokenSource] attach a token to every call of
// a channel or to one call (grpc.PerRPCCredentials).
//
// Tokens are secrets: the package never writes one to a log, an error or a label. Errors from
// a verifier are passed on with the token replaced by "[redacted]"; a Principal logs only its
// subject and scopes; the client credentials print as "[redacted]".
//
// Server:
//
//	v, err := auth.NewJWT(publicKey, auth.WithIssuer("https://login.example.com"))
//	a, err := auth.New(v, auth.WithRule("/orders.Orders/*", auth.Rule{Scopes: []string{"orders"}}))
//	srv := rpc.NewServer(rpc.WithUnaryServerInterceptors(a.Unary()), rpc.WithStreamServerInterceptors(a.Stream()))
//
// Client (per channel, or per call with grpc.PerRPCCredentials):
//
//	conn, err := rpc.Dial(ctx, "tianshu:///orders", rpc.WithDiscovery(reg),
//		rpc.WithTransportCredentials(tlsCreds),
//		rpc.WithGRPCDialOptions(grpc.WithPerRPCCredentials(auth.Bearer(token))))
package auth
