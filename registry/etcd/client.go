package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"

	"github.com/tianshu-go/tianshu/internal/etcdconn"
	"github.com/tianshu-go/tianshu/registry"
)

// openWait bounds how long New waits for a server that does not answer before it returns
// a Registry that connects in the background (the registry package's contract).
const openWait = time.Second

// dial creates a client and makes one read of probeKey, so that refused credentials or a TLS
// mismatch are reported by the constructor rather than by the first background failure.
//
// With background set (New), a server that cannot be reached is not an error: when no endpoint
// accepts a TCP connection (at once, or within openWait) or the probe gets no answer within
// openWait, dial returns the client, which keeps connecting with the backoff of o.retry, and
// reachable false. Without it (Dial), an unreachable server is an error wrapping
// registry.ErrUnavailable after the dial timeout.
func dial(ctx context.Context, endpoints []string, o *options, probeKey string, background bool) (cli *clientv3.Client, reachable bool, err error) {
	// Where nothing accepts a connection there is nobody to ask: no probe. With credentials
	// the etcd client logs in while it is created, and fails when no server answers; the
	// login is then left to the first request, which the client makes by itself when the
	// server asks for a token.
	if err := checkEndpoints(endpoints); err != nil {
		return nil, false, err
	}
	down := background && !anyAccepts(ctx, endpoints, openWait)
	cli, err = newClient(endpoints, o, down && o.username != "")
	if err != nil || o.lazy || down {
		return cli, false, err
	}
	wait := o.dialTimeout
	if background {
		wait = min(wait, openWait)
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_, err = cli.Get(pctx, probeKey)
	if err == nil {
		return cli, true, nil
	}
	why := ""
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// grpc reports only the deadline; find out why the connection failed.
		dwait := wait
		if background {
			dwait = min(wait, openWait/2)
		}
		why = diagnose(endpoints, o.tls, dwait)
		err = fmt.Errorf("%w (%s)", err, why)
	}
	err = classify(fmt.Sprintf("read %s on %s", probeKey, strings.Join(endpoints, ",")), err)
	if background && unreachable(err, why) {
		return cli, false, nil
	}
	_ = cli.Close()
	return nil, false, err
}

// unreachable reports whether a failed probe means that no server answers, which the
// Registry waits out in the background, rather than a refusal (credentials, TLS) that
// retrying cannot fix.
func unreachable(err error, why string) bool {
	if !errors.Is(err, registry.ErrUnavailable) || errors.Is(err, ErrAuth) {
		return false
	}
	return why == "" || strings.HasPrefix(why, "cannot connect") || strings.HasSuffix(why, "did not answer in time")
}

// anyAccepts reports whether any endpoint accepts a TCP connection within timeout.
func anyAccepts(ctx context.Context, endpoints []string, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok := make(chan bool, len(endpoints))
	for _, ep := range endpoints {
		go func() {
			addr := ep
			if u, err := url.Parse(ep); err == nil && u.Host != "" {
				addr = u.Host
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				_ = c.Close()
			}
			ok <- err == nil
		}()
	}
	for range endpoints {
		if <-ok {
			return true
		}
	}
	return false
}

// authenticateMethod is the etcd RPC the client logs in with.
const authenticateMethod = "/etcdserverpb.Auth/Authenticate"

// checkEndpoints applies the host rules of an etcd:// URL (registry.ParseHostList) to
// endpoints given to New, so that New refuses what Open refuses: an empty host, a port out
// of range.
func checkEndpoints(endpoints []string) error {
	if len(endpoints) == 0 {
		return fmt.Errorf("%w: no endpoint (want host:port or http(s)://host:port)", ErrInvalidConfig)
	}
	for i, ep := range endpoints {
		hostPort := strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://")
		if hostPort == "" || strings.Contains(hostPort, ",") {
			return fmt.Errorf("%w: endpoint %d of %q: want host:port or http(s)://host:port", ErrInvalidConfig, i, endpoints)
		}
		if _, err := registry.ParseHostList(hostPort, DefaultPort); err != nil {
			return fmt.Errorf("%w: endpoint %q: %w", ErrInvalidConfig, ep, err)
		}
	}
	return nil
}

// newClient creates a client without waiting for the server. With deferLogin, the login the
// client attempts while it is created is answered "authentication is not enabled" without
// asking the server, so that the client is made; its first request then meets "user name is
// empty" from a server with authentication on, and the client logs in and retries.
func newClient(endpoints []string, o *options, deferLogin bool) (*clientv3.Client, error) {
	if err := checkEndpoints(endpoints); err != nil {
		return nil, err
	}
	var skipLogin atomic.Bool
	skipLogin.Store(deferLogin)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: o.dialTimeout,
		Username:    o.username,
		Password:    o.password,
		TLS:         o.tls,
		Logger:      zap.New(slogCore{log: o.log.With("component", "etcd-client")}),
		// The lifetime of the client is ours (Close), never the constructor's ctx.
		Context: context.Background(),
		// grpc's own reconnection backoff grows to 2 minutes: a server down at start would
		// be found that late. Cap it as the rest of the Registry's retries are capped.
		DialOptions: []grpc.DialOption{
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           grpcbackoff.Config{BaseDelay: o.retry.Base, Multiplier: 1.6, Jitter: 0.2, MaxDelay: o.retry.Max},
				MinConnectTimeout: o.dialTimeout,
			}),
			grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				if method == authenticateMethod && skipLogin.Load() {
					return rpctypes.ErrGRPCAuthNotEnabled
				}
				return invoker(ctx, method, req, reply, cc, opts...)
			}),
		},
	})
	skipLogin.Store(false)
	if err != nil {
		return nil, classify(fmt.Sprintf("connect to %s", strings.Join(endpoints, ",")), err)
	}
	return cli, nil
}

// diagnose connects to the first endpoint the way the client would and says what failed:
// the TCP connection, the TLS handshake (with its x509 reason), or a TLS server that was
// spoken to in plain text.
func diagnose(endpoints []string, conf *tls.Config, timeout time.Duration) string {
	ep := endpoints[0]
	useTLS := conf != nil || strings.HasPrefix(ep, "https://")
	addr := ep
	if u, err := url.Parse(ep); err == nil && u.Host != "" {
		addr = u.Host
	}
	d := &net.Dialer{Timeout: min(timeout, 2*time.Second)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return "cannot connect to " + addr + ": " + err.Error()
	}
	_ = c.SetDeadline(time.Now().Add(d.Timeout))
	defer c.Close()
	if useTLS {
		tc := conf.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		if err := tls.Client(c, tc).Handshake(); err != nil {
			return "TLS handshake with " + addr + " failed: " + err.Error()
		}
		return addr + " accepts TLS connections but did not answer in time"
	}
	// Plain text: does the server expect TLS? A handshake that completes says so.
	// Verification is off: the handshake only asks whether TLS is spoken; no data follows.
	probe := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if probe.Handshake() == nil {
		return addr + " speaks TLS: configure WithTLS, WithTLSFiles or tls=true"
	}
	return addr + " accepts connections but did not answer in time"
}

// classify wraps an etcd client error with the sentinel a user should test for, and a hint
// where the raw message is obscure.
func classify(what string, err error) error { return etcdconn.Classify(what, err) }

// slogCore routes the etcd client's zap records to slog. The client logs every retry of a
// dropped stream as a warning; those are routine during an outage this package recovers
// from, so only its errors reach Warn and the rest go to Debug.
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
}

func level(l zapcore.Level) slog.Level {
	if l >= zapcore.ErrorLevel {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), level(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{log: c.log, fields: append(slices.Clip(c.fields), fields...)}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		attrs = append(attrs, k, enc.Fields[k])
	}
	c.log.Log(context.Background(), level(e.Level), e.Message, attrs...)
	return nil
}

func (slogCore) Sync() error { return nil }
