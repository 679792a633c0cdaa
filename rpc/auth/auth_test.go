package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/auth"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	echoMethod = "/tianshu.test.Echo/Echo"
	issuer     = "https://login.test"
)

var secret = []byte("0123456789abcdef0123456789abcdef-hmac")

// syncBuffer collects output written from other goroutines.
type syncBuffer = testenv.Buffer

// whoami answers with the subject the handler saw in its context.
type whoami struct{ testpb.UnimplementedEchoServer }

func (whoami) Echo(ctx context.Context, _ *testpb.EchoRequest) (*testpb.EchoReply, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal in context")
	}
	return &testpb.EchoReply{ServedBy: p.Subject}, nil
}

// serve starts an rpc.Server guarded by a and returns a plaintext connection to it.
func serve(t *testing.T, a *auth.Interceptor, log *slog.Logger) *grpc.ClientConn {
	t.Helper()
	srv := rpc.NewServer(rpc.WithUnaryServerInterceptors(a.Unary()), rpc.WithStreamServerInterceptors(a.Stream()), rpc.WithServerLogger(log))
	testpb.RegisterEchoServer(srv, whoami{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func sign(t testing.TB, key any, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(sub string, scope string, exp time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "iss": issuer, "scope": scope, "exp": time.Now().Add(exp).Unix()}
}

func newJWT(t testing.TB) *auth.JWT {
	t.Helper()
	v, err := auth.NewJWT(secret, auth.WithIssuer(issuer))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCallsAreAdmittedOrRefusedByTokenAndAllowList(t *testing.T) {
	a, err := auth.New(newJWT(t), auth.WithRule(echoMethod, auth.Rule{Scopes: []string{"echo"}, Subjects: []string{"root"}}), auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	conn := serve(t, a, slog.New(slog.DiscardHandler))
	c := testpb.NewEchoClient(conn)
	otherSecret := []byte("another-secret-another-secret-another")
	tests := []struct {
		name     string
		header   string // the authorization header; empty sends none
		wantCode codes.Code
		wantText string
	}{
		{"a token with the method's scope is served", "Bearer " + sign(t, secret, jwt.SigningMethodHS256, claims("alice", "read echo", time.Minute)), codes.OK, "alice"},
		{"a subject on the allow list is served without the scope", "Bearer " + sign(t, secret, jwt.SigningMethodHS256, claims("root", "", time.Minute)), codes.OK, "root"},
		{"a call without a token is unauthenticated", "", codes.Unauthenticated, "missing bearer token"},
		{"a header that is not a bearer token is unauthenticated", "Basic dXNlcjpwYXNz", codes.Unauthenticated, "Bearer <token>"},
		{"an expired token is unauthenticated", "Bearer " + sign(t, secret, jwt.SigningMethodHS256, claims("alice", "echo", -time.Minute)), codes.Unauthenticated, "expired"},
		{"a token signed with another key is unauthenticated", "Bearer " + sign(t, otherSecret, jwt.SigningMethodHS256, claims("alice", "echo", time.Minute)), codes.Unauthenticated, "signature"},
		{"a token from another issuer is unauthenticated", "Bearer " + sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "iss": "https://evil.test", "scope": "echo", "exp": time.Now().Add(time.Minute).Unix()}), codes.Unauthenticated, "invalid"},
		{"an unsigned token (alg none) is unauthenticated", "Bearer " + sign(t, jwt.UnsafeAllowNoneSignatureType, jwt.SigningMethodNone, claims("alice", "echo", time.Minute)), codes.Unauthenticated, "invalid"},
		{"a token without expiry is unauthenticated", "Bearer " + sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "iss": issuer, "scope": "echo"}), codes.Unauthenticated, "exp"},
		{"a valid token without the scope is denied", "Bearer " + sign(t, secret, jwt.SigningMethodHS256, claims("bob", "read", time.Minute)), codes.PermissionDenied, `"bob" may not call ` + echoMethod},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []grpc.CallOption
			if tc.header != "" {
				opts = append(opts, grpc.PerRPCCredentials(rawHeader(tc.header)))
			}
			r, err := c.Echo(context.Background(), &testpb.EchoRequest{}, opts...)
			if status.Code(err) != tc.wantCode {
				t.Fatalf("call = %v, %v; want code %v", r, err, tc.wantCode)
			}
			got := fmt.Sprint(err)
			if err == nil {
				got = r.ServedBy
			}
			if !strings.Contains(got, tc.wantText) {
				t.Fatalf("call answered %q, want it to contain %q", got, tc.wantText)
			}
		})
	}
}

// rawHeader sends an arbitrary authorization header over plaintext.
type rawHeader string

func (h rawHeader) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": string(h)}, nil
}
func (rawHeader) RequireTransportSecurity() bool { return false }

func TestHealthIsPublicAndStreamsAreGuardedToo(t *testing.T) {
	tokens := auth.StaticTokens(map[string]auth.Principal{"svc-token-0123456789": {Subject: "svc"}})
	tests := []struct {
		name     string
		opts     []auth.Option
		creds    []grpc.CallOption
		wantCode codes.Code
	}{
		{"a health check needs no token by default", nil, nil, codes.OK},
		{"a health watch without a token is refused when health is not public", []auth.Option{auth.WithoutPublicHealth()}, nil, codes.Unauthenticated},
		{"a health watch with a known token is served when health is not public", []auth.Option{auth.WithoutPublicHealth()},
			[]grpc.CallOption{grpc.PerRPCCredentials(auth.Bearer("svc-token-0123456789", auth.AllowInsecure()))}, codes.OK},
		{"a health watch with an unknown token is refused", []auth.Option{auth.WithoutPublicHealth()},
			[]grpc.CallOption{grpc.PerRPCCredentials(auth.Bearer("guess", auth.AllowInsecure()))}, codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := auth.New(tokens, append(tc.opts, auth.WithLogger(slog.New(slog.DiscardHandler)))...)
			if err != nil {
				t.Fatal(err)
			}
			hc := healthpb.NewHealthClient(serve(t, a, slog.New(slog.DiscardHandler)))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{}, tc.creds...)
			if err == nil {
				_, err = w.Recv()
			}
			if status.Code(err) != tc.wantCode {
				t.Fatalf("health watch = %v, want %v", err, tc.wantCode)
			}
		})
	}
}

func TestTokensAreNotSentOverPlaintextUnlessAllowed(t *testing.T) {
	a, err := auth.New(auth.StaticTokens(map[string]auth.Principal{"tok-0123456789": {Subject: "svc"}}), auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c := testpb.NewEchoClient(serve(t, a, slog.New(slog.DiscardHandler)))
	_, err = c.Echo(context.Background(), &testpb.EchoRequest{}, grpc.PerRPCCredentials(auth.Bearer("tok-0123456789")))
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "insecure") {
		t.Fatalf("token over plaintext = %v, want grpc's refusal to send it", err)
	}
	r, err := c.Echo(context.Background(), &testpb.EchoRequest{}, grpc.PerRPCCredentials(auth.Bearer("tok-0123456789", auth.AllowInsecure())))
	if err != nil || r.ServedBy != "svc" {
		t.Fatalf("token allowed over plaintext = %v, %v; want served as svc", r, err)
	}
}

func TestSecretsAppearInNoLogAndNoError(t *testing.T) {
	const tokenSecret = "s3cr3t-static-token-do-not-log"
	jwtToken := sign(t, secret, jwt.SigningMethodHS256, claims("mallory", "", time.Minute))
	expired := sign(t, secret, jwt.SigningMethodHS256, claims("alice", "echo", -time.Minute))
	leaky := auth.VerifierFunc(func(_ context.Context, token string) (auth.Principal, error) {
		// A careless verifier quoting the token in its error.
		return auth.Principal{}, fmt.Errorf("token %q is not in the database", token)
	})
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []string
	for _, v := range []auth.Verifier{newJWT(t), leaky, auth.StaticTokens(map[string]auth.Principal{"other": {Subject: "x"}})} {
		a, err := auth.New(v, auth.WithRule(echoMethod, auth.Rule{Scopes: []string{"echo"}}), auth.WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		c := testpb.NewEchoClient(serve(t, a, log))
		for _, tok := range []string{tokenSecret, jwtToken, expired} {
			creds := auth.Bearer(tok, auth.AllowInsecure())
			log.Info("client credentials", "creds", creds)
			errs = append(errs, fmt.Sprintf("%v %+v %#v %s", creds, creds, creds, creds))
			_, err := c.Echo(context.Background(), &testpb.EchoRequest{}, grpc.PerRPCCredentials(creds))
			if err == nil {
				t.Fatalf("call with %s was served; every token here should be refused", v)
			}
			errs = append(errs, err.Error())
		}
	}
	all := logs.String() + strings.Join(errs, "\n")
	if !strings.Contains(all, "call refused") {
		t.Fatalf("no refusal was logged; the test would prove nothing:\n%s", all)
	}
	parts := append([]string{tokenSecret, string(secret)}, strings.Split(jwtToken, ".")...)
	parts = append(parts, strings.Split(expired, ".")...)
	for _, p := range parts {
		if strings.Contains(all, p) {
			t.Errorf("a secret (%.6s...) appears in logs or errors:\n%s", p, all)
		}
	}
}

func TestBadConfigurationFailsAtNew(t *testing.T) {
	v := auth.StaticTokens(nil)
	for _, pattern := range []string{"", "Echo", "/tianshu.test.Echo", "/tianshu.test.Echo/", "/*/Echo", "/a/b/c", "/a/Ech*"} {
		if _, err := auth.New(v, auth.WithRule(pattern, auth.Rule{})); !errors.Is(err, auth.ErrInvalidConfig) || !strings.Contains(err.Error(), fmt.Sprintf("%q", pattern)) {
			t.Errorf("New with rule %q = %v, want ErrInvalidConfig naming it", pattern, err)
		}
	}
	if _, err := auth.New(nil); !errors.Is(err, auth.ErrInvalidConfig) {
		t.Errorf("New(nil) = %v, want ErrInvalidConfig", err)
	}
	tests := []struct {
		name string
		key  any
		opts []auth.JWTOption
		want string
	}{
		{"a short HMAC secret", []byte("short"), nil, "guessable"},
		{"a key function without methods", jwt.Keyfunc(func(*jwt.Token) (any, error) { return secret, nil }), nil, "WithMethods"},
		{"an algorithm that does not fit the key", secret, []auth.JWTOption{auth.WithMethods("RS256")}, "RS256"},
		{"a key of unknown type", 42, nil, "int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.NewJWT(tc.key, tc.opts...); !errors.Is(err, auth.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewJWT = %v, want ErrInvalidConfig naming %q", err, tc.want)
			}
		})
	}
}

func TestJWTScopesComeFromAStringOrAnArrayClaim(t *testing.T) {
	v, err := auth.NewJWT(secret, auth.WithScopeClaim("scp"))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, secret, jwt.SigningMethodHS512, jwt.MapClaims{"sub": "a", "scp": []string{"x", "y"}, "exp": time.Now().Add(time.Minute).Unix()})
	p, err := v.Verify(context.Background(), tok)
	if err != nil || !p.HasScope("y") || p.Subject != "a" {
		t.Fatalf("Verify = %+v, %v; want subject a with scope y", p, err)
	}
}
