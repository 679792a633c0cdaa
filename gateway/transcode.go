package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rest/transcode"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/httperr"
	"github.com/tianshu-go/tianshu/telemetry"
)

// ErrDescriptors is wrapped by the errors about a transcoding target's gRPC descriptors: a
// descriptor set file that cannot be read or parsed, a service that none of the
// descriptors defines or that has no google.api.http rule, and a reflection request that
// failed. From the Go registry or a file it makes the route set invalid (with ErrInvalid);
// from reflection it is the message of the route's 503 answers until reflection succeeds.
var ErrDescriptors = errors.New("gateway: gRPC descriptors unavailable")

// Transcode serves the gRPC methods of a registry service that carry google.api.http
// rules as REST/JSON, through package rest/transcode (see it for how paths, query
// parameters and bodies map onto messages, and how errors and streams are written). The
// route's match and rewrite decide which requests reach the transcoder; the rules decide
// the method, and a path no rule binds is 404 (405 with Allow for another HTTP method).
//
// The descriptors come from one of three places, tried in this order of settings:
//
//   - descriptorSet: a file written by protoc --descriptor_set_out --include_imports,
//     read when the route set is applied (again whenever the file's size or time
//     changes and a route set is applied). What is deployed is what was reviewed, and it
//     works when reflection is off or the service is down. A file that cannot be read,
//     or lacks a service, makes the route set invalid.
//   - reflection: true: gRPC server reflection (grpc.reflection.v1), asked of the
//     service's instances through the registry when the route is first applied; rpc.Server
//     serves it by default. Until it answers, the route answers 503 UNAVAILABLE naming the
//     failure, and the gateway asks again with capped backoff, so that a gateway started
//     before its upstreams (or with one down) still serves every other route. The
//     descriptors are kept for as long as a route uses the target with these settings.
//   - neither: the Go protobuf registry of the gateway's binary (the generated packages
//     the program imports), or the files given to WithDescriptors. A service missing
//     there makes the route set invalid. This is the embedded gateway's way; the
//     command tianshu-gateway links no services in, so it needs one of the other two.
type Transcode struct {
	// Services are the full names of the gRPC services served ("shop.v1.Inventory").
	Services      []string `json:"services" config:"services"`
	DescriptorSet string   `json:"descriptorSet" config:"descriptorSet"`
	Reflection    bool     `json:"reflection" config:"reflection"`
	// EmitUnpopulated writes fields at their zero value too; see
	// transcode.WithEmitUnpopulated.
	EmitUnpopulated bool `json:"emitUnpopulated" config:"emitUnpopulated"`
	// StrictQuery answers a query parameter naming no field with 400; see
	// transcode.WithStrictQuery.
	StrictQuery bool `json:"strictQuery" config:"strictQuery"`
}

func (tc *Transcode) validate(at string, t *Target, fail failFunc) {
	at += ".transcode"
	if t.Service == "" {
		fail(at, "needs a service of the registry (its grpc endpoints are called): urls are not transcoded")
	}
	if t.Protocol == protoHTTP {
		fail(at, "the target's protocol is http: transcoding calls gRPC (leave protocol out, or grpc)")
	}
	if len(tc.Services) == 0 {
		fail(at+".services", "empty: name the gRPC services to serve, such as shop.v1.Inventory")
	}
	for j, s := range tc.Services {
		if !protoreflect.FullName(s).IsValid() {
			fail(fmt.Sprintf("%s.services[%d]", at, j), "%q is not a full protobuf name such as shop.v1.Inventory", s)
		}
	}
	if tc.DescriptorSet != "" && tc.Reflection {
		fail(at, "both descriptorSet and reflection: want one source of descriptors")
	}
}

// validateTranscode checks what ties a route to transcoding: its canary must transcode too,
// since the route's paths mean REST methods on one target and raw paths on the other.
func (r *Route) validateTranscode(at string, fail failFunc) {
	if c := r.Canary; c != nil && (r.Target.Transcode == nil) != (c.Target.Transcode == nil) {
		fail(at+".canary.target.transcode", "set on one of target and canary only: both transcode, or neither")
	}
}

// transcodeKey is what makes two transcoding upstreams the same, the descriptor set file's
// size and time included, so that a route set applied after the file changed reads it again.
func transcodeKey(tc *Transcode) string {
	stamp := ""
	if tc.DescriptorSet != "" {
		if fi, err := os.Stat(tc.DescriptorSet); err == nil {
			stamp = fmt.Sprintf("%d@%d", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return fmt.Sprintf("|t%s/%s%s/%t/%t/%t", strings.Join(tc.Services, ","), tc.DescriptorSet, stamp,
		tc.Reflection, tc.EmitUnpopulated, tc.StrictQuery)
}

// WithDescriptors looks transcoding targets' services up in files when they name neither a
// descriptor set nor reflection; the default is protoregistry.GlobalFiles, which holds the
// services of every generated package the program imports.
func WithDescriptors(files *protoregistry.Files) Option {
	return func(o *options) error {
		if files == nil {
			return fmt.Errorf("%w: WithDescriptors(nil)", ErrOption)
		}
		o.tc.files = files
		return nil
	}
}

// WithGRPCTelemetry records a client span and the rpc.client.call.duration histogram per
// gRPC call a transcoding target makes, with h (made by telemetry.NewClientHandler; the
// gateway does not Close it). The default is rpc.Dial's, over OpenTelemetry's global
// providers; WithoutTelemetry records nothing.
func WithGRPCTelemetry(h *telemetry.Handler) Option {
	return func(o *options) error {
		if h == nil || h.IsServer() {
			return fmt.Errorf("%w: WithGRPCTelemetry: want a handler of telemetry.NewClientHandler", ErrOption)
		}
		o.tc.tel = h
		return nil
	}
}

// transcodeOptions are the gateway's settings for transcoding targets.
type transcodeOptions struct {
	files *protoregistry.Files
	tel   *telemetry.Handler
	noTel bool
}

// sharedConn is one gRPC connection to a service, through the registry, shared by every
// transcoding upstream of that service and closed with the last of them.
type sharedConn struct {
	conn *grpc.ClientConn
	refs int
}

// acquireConn returns the connection to service under key (the service and its TLS
// settings), dialled when new, with creds when not nil; the caller holds p.mu.
func (p *pool) acquireConn(key, service string, creds credentials.TransportCredentials) (*grpc.ClientConn, error) {
	if c := p.conns[key]; c != nil {
		c.refs++
		return c.conn, nil
	}
	opts := []rpc.DialOption{rpc.WithDiscovery(p.disc), rpc.WithDialLogger(p.log)}
	if creds != nil {
		opts = append(opts, rpc.WithTransportCredentials(creds))
	}
	switch {
	case p.tc.noTel:
		opts = append(opts, rpc.WithoutClientTelemetry())
	case p.tc.tel != nil:
		opts = append(opts, rpc.WithClientTelemetry(p.tc.tel))
	}
	// Dial returns at once (the resolver and the balancer connect in the background), so the
	// context bounds nothing here.
	conn, err := rpc.Dial(context.Background(), "tianshu:///"+service, opts...)
	if err != nil {
		return nil, err
	}
	if p.conns == nil {
		p.conns = map[string]*sharedConn{}
	}
	p.conns[key] = &sharedConn{conn: conn, refs: 1}
	return conn, nil
}

// releaseConn drops a reference to the connection under key, closing it with the last.
func (p *pool) releaseConn(key string) {
	p.mu.Lock()
	c := p.dropConnLocked(key)
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// dropConnLocked drops a reference to the connection under key and returns it when that was
// the last, for the caller to close; the caller holds p.mu.
func (p *pool) dropConnLocked(key string) *grpc.ClientConn {
	c := p.conns[key]
	if c == nil {
		return nil
	}
	if c.refs--; c.refs > 0 {
		return nil
	}
	delete(p.conns, key)
	return c.conn
}

// makeTranscode builds a transcoding upstream: the service's shared connection, with the
// route's breaker and retries around each call, and the transcoder over it. The caller
// holds p.mu.
func (p *pool) makeTranscode(u *upstream, t Target, rt *Retries, b *Breaker) error {
	if p.disc == nil {
		return fmt.Errorf("%w: target service %q, but the gateway has no registry (WithDiscovery)", ErrOption, t.Service)
	}
	u.service, u.disc = t.Service, p.disc
	g, err := breakerGroup(b)
	if err != nil {
		return err
	}
	var retries grpc.UnaryClientInterceptor
	if rt != nil && rt.Attempts > 1 {
		pol := retry.DefaultPolicy()
		pol.MaxAttempts = rt.Attempts
		ratio := rt.Budget
		if ratio == 0 {
			ratio = 0.1
		}
		budget, err := retry.NewBudget(ratio, 10)
		if err == nil {
			retries, err = retry.UnaryClientInterceptor(retry.WithDefaultPolicy(pol), retry.WithBudget(budget))
		}
		if err != nil {
			_ = g.Close()
			return fmt.Errorf("%w: retries: %v", ErrInvalid, err)
		}
	}
	// A tls section makes the connection TLS (mutual with a certificate), to the service's
	// grpcs endpoints, its certificate verified for the service's name unless serverName.
	key := t.Service
	var creds credentials.TransportCredentials
	if c := t.TLS; c != nil {
		creds, err = rpc.NewClientTLS(rpc.TLSFiles{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile, ServerName: c.ServerName})
		if err != nil {
			_ = g.Close()
			return fmt.Errorf("%w: tls: %w", ErrInvalid, err)
		}
		key += fmt.Sprintf("|%q/%q/%q/%q", c.CAFile, c.CertFile, c.KeyFile, c.ServerName)
	}
	conn, err := p.acquireConn(key, t.Service, creds)
	if err != nil {
		_ = g.Close()
		return err
	}
	u.brk = g
	gc := &guardedConn{cc: conn, retry: retries, unary: breaker.UnaryClientInterceptor(g),
		stream: breaker.StreamClientInterceptor(g)}
	tr := &transcoder{pool: p, service: t.Service, connKey: key, tc: *t.Transcode, gc: gc, ready: make(chan struct{})}
	u.tc = tr
	if !t.Transcode.Reflection {
		files := p.tc.files
		if t.Transcode.DescriptorSet != "" {
			files, err = readDescriptorSet(t.Transcode.DescriptorSet)
		}
		if err == nil {
			err = tr.loaded(files)
		}
		close(tr.ready)
		if err != nil {
			_ = g.Close()
			if c := p.dropConnLocked(key); c != nil {
				_ = c.Close()
			}
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr.stop, tr.done = cancel, make(chan struct{})
	go tr.reflect(ctx, conn)
	return nil
}

// readDescriptorSet reads a FileDescriptorSet file, such as protoc --descriptor_set_out
// --include_imports writes.
func readDescriptorSet(path string) (*protoregistry.Files, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: descriptorSet: %w", ErrDescriptors, err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: descriptorSet %s: not a FileDescriptorSet: %w", ErrDescriptors, path, err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("%w: descriptorSet %s: %w (write it with protoc --include_imports)", ErrDescriptors, path, err)
	}
	return files, nil
}

// transcoder serves one transcoding upstream's requests once its descriptors are known.
type transcoder struct {
	pool    *pool
	service string // the registry's
	connKey string // the shared connection's, in pool.conns
	tc      Transcode
	gc      *guardedConn
	// h serves routes with the default body limit; files is set before it.
	h       atomic.Pointer[transcode.Handler]
	files   *protoregistry.Files
	byLimit sync.Map      // body limit -> *transcode.Handler, for the routes with another
	ready   chan struct{} // closed after the first attempt at the descriptors
	mu      sync.Mutex
	err     error // the last attempt's failure while h is nil
	stop    context.CancelFunc
	done    chan struct{} // closed when reflect returns; nil without reflection
}

// loaded builds the handler of the default body limit from files, and keeps files for the
// routes with other limits.
func (tr *transcoder) loaded(files *protoregistry.Files) error {
	h, err := tr.build(files, DefaultMaxBodyBytes)
	if err != nil {
		return err
	}
	tr.files = files
	tr.h.Store(h)
	return nil
}

// forLimit returns the handler of a route whose body limit is not the default: the
// transcoder enforces a route's limit itself, so that a body over it is 413 however it is
// sent. -1 (no cap) is the largest limit there is.
func (tr *transcoder) forLimit(limit int64) (*transcode.Handler, error) {
	if limit < 0 {
		limit = math.MaxInt64
	}
	if h, ok := tr.byLimit.Load(limit); ok {
		return h.(*transcode.Handler), nil
	}
	h, err := tr.build(tr.files, limit)
	if err != nil {
		return nil, err
	}
	got, _ := tr.byLimit.LoadOrStore(limit, h)
	return got.(*transcode.Handler), nil
}

// build makes the handler for the configured services from files.
func (tr *transcoder) build(files *protoregistry.Files, bodyLimit int64) (*transcode.Handler, error) {
	conn := tr.gc
	opts := []transcode.Option{transcode.WithFiles(files), transcode.WithBodyLimit(bodyLimit)}
	for _, s := range tr.tc.Services {
		d, err := files.FindDescriptorByName(protoreflect.FullName(s))
		if err != nil {
			where := "the program's generated packages (or WithDescriptors): set descriptorSet or reflection"
			switch {
			case tr.tc.DescriptorSet != "":
				where = "descriptorSet " + tr.tc.DescriptorSet
			case tr.tc.Reflection:
				where = "the descriptors reflection returned"
			}
			return nil, fmt.Errorf("%w: service %s is not in %s", ErrDescriptors, s, where)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not a service", ErrDescriptors, s)
		}
		if !hasHTTPRule(sd) {
			return nil, fmt.Errorf("%w: service %s has no method with a google.api.http rule: nothing to serve", ErrDescriptors, s)
		}
		opts = append(opts, transcode.Remote(conn, s))
	}
	if tr.tc.EmitUnpopulated {
		opts = append(opts, transcode.WithEmitUnpopulated())
	}
	if tr.tc.StrictQuery {
		opts = append(opts, transcode.WithStrictQuery())
	}
	return transcode.New(opts...)
}

// reflect asks the service's instances for the descriptors until they answer, then builds
// the handler. Failures are logged once each, and kept for the 503 answers.
func (tr *transcoder) reflect(ctx context.Context, conn *grpc.ClientConn) {
	defer close(tr.done)
	var once sync.Once
	var last string
	for attempt := 0; ; attempt++ {
		files, err := fetchDescriptors(ctx, conn, tr.tc.Services)
		if err == nil {
			err = tr.loaded(files)
		}
		if err == nil {
			once.Do(func() { close(tr.ready) })
			return
		}
		tr.mu.Lock()
		tr.err = err
		tr.mu.Unlock()
		once.Do(func() { close(tr.ready) })
		if ctx.Err() != nil {
			return
		}
		if msg := err.Error(); msg != last {
			last = msg
			tr.pool.log.Warn("gateway: transcoding: no descriptors yet; retrying", "service", tr.service, "err", err)
		}
		if !backoff.Sleep(ctx, backoff.Default.Delay(attempt)) {
			return
		}
	}
}

// close stops asking for descriptors and releases the service's connection.
func (tr *transcoder) close() {
	if tr.stop != nil {
		tr.stop()
		<-tr.done
	}
	tr.pool.releaseConn(tr.connKey)
}

// serve transcodes r for a route with the body limit given, or answers 503 while the
// descriptors are not known. A request arriving during the first attempt waits for it.
func (tr *transcoder) serve(w http.ResponseWriter, r *http.Request, bodyLimit int64) {
	h := tr.h.Load()
	if h == nil {
		select {
		case <-tr.ready:
		case <-r.Context().Done():
		}
		if h = tr.h.Load(); h == nil {
			tr.mu.Lock()
			err := tr.err
			tr.mu.Unlock()
			msg := "the gRPC descriptors of " + strings.Join(tr.tc.Services, ", ") + " are not loaded yet"
			if err != nil {
				msg += ": " + err.Error()
			}
			httperr.WriteHTTP(w, http.StatusServiceUnavailable, status.New(codes.Unavailable, msg))
			return
		}
	}
	if bodyLimit != DefaultMaxBodyBytes {
		var err error
		if h, err = tr.forLimit(bodyLimit); err != nil {
			// The same options built h: only a bug gets here.
			httperr.Write(w, status.New(codes.Internal, err.Error()))
			return
		}
	}
	if isIdempotent(r) {
		r = r.WithContext(context.WithValue(r.Context(), idempotentKey{}, true))
	}
	h.ServeHTTP(w, r)
}

// isIdempotent says whether a request may be sent twice, by rest.Transport's rule.
func isIdempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.Header.Get(rest.IdempotencyKeyHeader) != ""
}

// idempotentKey marks the context of a call whose HTTP request may be sent twice: only
// those are retried, as the route's retries promise.
type idempotentKey struct{}

func hasHTTPRule(sd protoreflect.ServiceDescriptor) bool {
	for i := range sd.Methods().Len() {
		if proto.HasExtension(sd.Methods().Get(i).Options(), annotations.E_Http) {
			return true
		}
	}
	return false
}

// guardedConn is a transcoding upstream's view of its service's shared connection: its
// own breaker around each call and stream, and its retries around idempotent calls.
type guardedConn struct {
	cc     *grpc.ClientConn
	retry  grpc.UnaryClientInterceptor // nil: no retries
	unary  grpc.UnaryClientInterceptor
	stream grpc.StreamClientInterceptor
}

func invoke(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
	return cc.Invoke(ctx, method, req, reply, opts...)
}

func (g *guardedConn) guarded(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
	return g.unary(ctx, method, req, reply, cc, invoke, opts...)
}

// Invoke runs a unary call: retried attempts each pass the breaker.
func (g *guardedConn) Invoke(ctx context.Context, method string, req, reply any, opts ...grpc.CallOption) error {
	if g.retry != nil && ctx.Value(idempotentKey{}) != nil {
		return g.retry(ctx, method, req, reply, g.cc, g.guarded, opts...)
	}
	return g.guarded(ctx, method, req, reply, g.cc, opts...)
}

// NewStream opens a stream through the breaker; streams are never retried.
func (g *guardedConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return g.stream(ctx, desc, g.cc, method, streamer, opts...)
}

func streamer(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return cc.NewStream(ctx, desc, method, opts...)
}
