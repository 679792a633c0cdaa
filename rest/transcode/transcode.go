package transcode

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Errors New returns, wrapped with the service, method or option at fault.
var (
	// ErrRule: a google.api.http rule that cannot be served: a bad path template, a field
	// path that names no field, a route bound twice, or a client-streaming method.
	ErrRule = errors.New("transcode: bad google.api.http rule")
	// ErrOption: an option with a value that cannot work, such as a body limit of zero.
	ErrOption = errors.New("transcode: bad option")
	// ErrService: a service whose descriptor is not in the files searched (import its
	// generated package, or pass WithFiles), or an implementation that does not implement it.
	ErrService = errors.New("transcode: service not found")
)

// DefaultBodyLimit is the largest request body read unless WithBodyLimit says otherwise.
const DefaultBodyLimit = 4 << 20

// Option configures New. Services are options too (Local, Remote), so that one call builds
// the whole Handler and reports every problem before it serves.
type Option func(*config) error

type config struct {
	files           *protoregistry.Files
	types           *protoregistry.Types
	services        []service
	emitUnpopulated bool
	bodyLimit       int64
	strictQuery     bool
	unary           []grpc.UnaryServerInterceptor
	stream          []grpc.StreamServerInterceptor
}

// service is one Local or Remote service before its descriptors are looked up.
type service struct {
	name string
	desc *grpc.ServiceDesc // Local
	impl any
	conn grpc.ClientConnInterface // Remote
}

// Local serves desc's methods by calling impl's handlers in process, as a *grpc.Server
// would after decoding a request: no loopback connection, no protobuf encoding. desc and
// impl are what the generated Register<Service>Server function passes, for example
// Local(&pb.Books_ServiceDesc, booksImpl). Server interceptors are not run unless given
// with WithUnaryInterceptors and WithStreamInterceptors.
func Local(desc *grpc.ServiceDesc, impl any) Option {
	return func(c *config) error {
		if desc == nil || impl == nil {
			return fmt.Errorf("%w: Local needs a service description and an implementation", ErrOption)
		}
		if desc.HandlerType != nil {
			want := reflect.TypeOf(desc.HandlerType).Elem()
			if !reflect.TypeOf(impl).Implements(want) {
				return fmt.Errorf("%w: %T does not implement %s", ErrService, impl, want)
			}
		}
		c.services = append(c.services, service{name: desc.ServiceName, desc: desc, impl: impl})
		return nil
	}
}

// Remote serves the methods of the gRPC service called name (a full name such as
// "books.v1.Books") by calling them on conn, for example a connection dialled with
// rpc.Dial("tianshu:///books") so that the registry finds the instances.
func Remote(conn grpc.ClientConnInterface, name string) Option {
	return func(c *config) error {
		if conn == nil || name == "" {
			return fmt.Errorf("%w: Remote needs a connection and a service name", ErrOption)
		}
		c.services = append(c.services, service{name: name, conn: conn})
		return nil
	}
}

// WithFiles looks the services' descriptors up in files instead of
// protoregistry.GlobalFiles, for services whose generated code is not linked in (their
// descriptors fetched by server reflection, say). Messages whose Go types are not linked
// in are handled as dynamic messages.
func WithFiles(files *protoregistry.Files) Option {
	return func(c *config) error {
		if files == nil {
			return fmt.Errorf("%w: WithFiles(nil)", ErrOption)
		}
		c.files = files
		return nil
	}
}

// WithEmitUnpopulated writes fields at their zero value too (grpc-gateway's
// EmitUnpopulated): "count": 0 rather than nothing.
func WithEmitUnpopulated() Option {
	return func(c *config) error { c.emitUnpopulated = true; return nil }
}

// WithBodyLimit answers a request whose body is longer than n bytes with 413 Request
// Entity Too Large. The default is DefaultBodyLimit.
func WithBodyLimit(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: body limit %d is not positive", ErrOption, n)
		}
		c.bodyLimit = n
		return nil
	}
}

// WithStrictQuery answers a query parameter that names no field of the request, or a
// field the path or the body already sets, with 400 naming it; by default such
// parameters are ignored, as grpc-gateway ignores them.
func WithStrictQuery() Option {
	return func(c *config) error { c.strictQuery = true; return nil }
}

// WithUnaryInterceptors runs is around every unary call to a Local service, the first
// outermost, as a grpc.Server runs its chain: a call made in process skips the server's
// own interceptors, so pass the ones it must not skip (auth, recovery, telemetry).
func WithUnaryInterceptors(is ...grpc.UnaryServerInterceptor) Option {
	return func(c *config) error {
		if len(is) == 0 || slices.IndexFunc(is, func(i grpc.UnaryServerInterceptor) bool { return i == nil }) >= 0 {
			return fmt.Errorf("%w: WithUnaryInterceptors needs interceptors, none nil", ErrOption)
		}
		c.unary = append(c.unary, is...)
		return nil
	}
}

// WithStreamInterceptors runs is around every streaming call to a Local service, the
// first outermost.
func WithStreamInterceptors(is ...grpc.StreamServerInterceptor) Option {
	return func(c *config) error {
		if len(is) == 0 || slices.IndexFunc(is, func(i grpc.StreamServerInterceptor) bool { return i == nil }) >= 0 {
			return fmt.Errorf("%w: WithStreamInterceptors needs interceptors, none nil", ErrOption)
		}
		c.stream = append(c.stream, is...)
		return nil
	}
}

// chainUnary makes one interceptor of is, is[0] outermost; nil for none.
func chainUnary(is []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	switch len(is) {
	case 0:
		return nil
	case 1:
		return is[0]
	}
	inner := chainUnary(is[1:])
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return is[0](ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return inner(ctx, req, info, h)
		})
	}
}

// chainStream makes one interceptor of is, is[0] outermost; nil for none.
func chainStream(is []grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	switch len(is) {
	case 0:
		return nil
	case 1:
		return is[0]
	}
	inner := chainStream(is[1:])
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return is[0](srv, ss, info, func(srv any, ss grpc.ServerStream) error {
			return inner(srv, ss, info, h)
		})
	}
}

// Handler serves gRPC methods annotated with google.api.http as REST/JSON. It is an
// http.Handler; it is safe for concurrent use and does not change after New.
type Handler struct {
	routes    map[string][]*binding // by HTTP method, in match order
	marshal   protojson.MarshalOptions
	unmarshal protojson.UnmarshalOptions
	bodyLimit int64
	strict    bool
	unaryInt  grpc.UnaryServerInterceptor
	streamInt grpc.StreamServerInterceptor
	bufs      sync.Pool // *[]byte
}

// method is one gRPC method and how to call it.
type method struct {
	fullName        string // "/pkg.Service/Method"
	in, out         protoreflect.MessageDescriptor
	newIn, newOut   func() proto.Message
	serverStreaming bool
	// Local
	impl   any
	unary  grpc.MethodHandler
	stream grpc.StreamHandler
	// Remote
	conn grpc.ClientConnInterface
}

// binding is one HTTP route to a method: an HttpRule or one of its additional bindings.
type binding struct {
	verb     string
	tmpl     *template
	m        *method
	vars     []fieldPath // parallel to tmpl.vars
	bodyAll  bool
	body     fieldPath // the body's field, nil for none or "*"
	respBody protoreflect.FieldDescriptor
	bound    []fieldPath // set by path or body: not settable by query parameters
}

// New builds a Handler for the services given as Local and Remote options. A service's
// methods without a google.api.http rule are not served.
func New(opts ...Option) (*Handler, error) {
	c := config{files: protoregistry.GlobalFiles, types: protoregistry.GlobalTypes, bodyLimit: DefaultBodyLimit}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	h := &Handler{
		routes:    map[string][]*binding{},
		marshal:   protojson.MarshalOptions{EmitUnpopulated: c.emitUnpopulated},
		unmarshal: protojson.UnmarshalOptions{DiscardUnknown: true},
		bodyLimit: c.bodyLimit,
		strict:    c.strictQuery,
		unaryInt:  chainUnary(c.unary),
		streamInt: chainStream(c.stream),
	}
	h.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	for _, s := range c.services {
		if err := h.add(&c, s); err != nil {
			return nil, err
		}
	}
	for _, bs := range h.routes {
		slices.SortStableFunc(bs, func(a, b *binding) int {
			switch {
			case a.tmpl.before(b.tmpl):
				return -1
			case b.tmpl.before(a.tmpl):
				return 1
			}
			return 0
		})
	}
	return h, nil
}

func (h *Handler) add(c *config, s service) error {
	d, err := c.files.FindDescriptorByName(protoreflect.FullName(s.name))
	if err != nil {
		return fmt.Errorf("%w: %s: %w (import the package generated from its .proto, or pass WithFiles)",
			ErrService, s.name, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return fmt.Errorf("%w: %s is a %T, not a service", ErrService, s.name, d)
	}
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil || rule.GetPattern() == nil {
			continue
		}
		where := fmt.Sprintf("%s.%s", s.name, md.Name())
		if md.IsStreamingClient() {
			return fmt.Errorf("%w: %s: client streaming is not transcoded", ErrRule, where)
		}
		m := &method{
			fullName:        fmt.Sprintf("/%s/%s", s.name, md.Name()),
			in:              md.Input(),
			out:             md.Output(),
			newIn:           newFunc(c.types, md.Input()),
			newOut:          newFunc(c.types, md.Output()),
			serverStreaming: md.IsStreamingServer(),
			impl:            s.impl,
			conn:            s.conn,
		}
		if s.desc != nil && !bindLocal(m, s.desc, string(md.Name())) {
			return fmt.Errorf("%w: %s is not in the grpc.ServiceDesc given to Local", ErrService, where)
		}
		for j, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
			if err := h.bind(m, r); err != nil {
				return fmt.Errorf("%s (binding %d): %w", where, j, err)
			}
		}
	}
	return nil
}

// bindLocal finds the handler of the method called name in desc.
func bindLocal(m *method, desc *grpc.ServiceDesc, name string) bool {
	for _, u := range desc.Methods {
		if u.MethodName == name && !m.serverStreaming {
			m.unary = u.Handler
			return true
		}
	}
	for _, s := range desc.Streams {
		if s.StreamName == name && m.serverStreaming {
			m.stream = s.Handler
			return true
		}
	}
	return false
}

// newFunc makes messages of md's Go type when it is linked in, dynamic ones otherwise: a
// Go type made from another copy of the descriptor would refuse md's field descriptors.
func newFunc(types *protoregistry.Types, md protoreflect.MessageDescriptor) func() proto.Message {
	mt, err := types.FindMessageByName(md.FullName())
	if err != nil || mt.Descriptor() != md {
		mt = dynamicpb.NewMessageType(md)
	}
	return func() proto.Message { return mt.New().Interface() }
}

func (h *Handler) bind(m *method, r *annotations.HttpRule) error {
	var verb, path string
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		verb, path = http.MethodGet, p.Get
	case *annotations.HttpRule_Put:
		verb, path = http.MethodPut, p.Put
	case *annotations.HttpRule_Post:
		verb, path = http.MethodPost, p.Post
	case *annotations.HttpRule_Delete:
		verb, path = http.MethodDelete, p.Delete
	case *annotations.HttpRule_Patch:
		verb, path = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Custom:
		verb, path = p.Custom.GetKind(), p.Custom.GetPath()
	default:
		return fmt.Errorf("%w: no pattern", ErrRule)
	}
	t, err := parseTemplate(path)
	if err != nil {
		return err
	}
	b := &binding{verb: verb, tmpl: t, m: m}
	for _, v := range t.vars {
		fp, err := resolvePath(m.in, v.fieldPath, false)
		if err != nil {
			return fmt.Errorf("%w: path variable %w", ErrRule, err)
		}
		if last := fp[len(fp)-1]; last.IsList() || last.IsMap() {
			return fmt.Errorf("%w: path variable %s is repeated", ErrRule, v.fieldPath)
		}
		b.vars = append(b.vars, fp)
		b.bound = append(b.bound, fp)
	}
	switch body := r.GetBody(); body {
	case "":
	case "*":
		b.bodyAll = true
	default:
		fp, err := resolvePath(m.in, body, false)
		if err != nil || len(fp) != 1 {
			return fmt.Errorf("%w: body %q is not a field of %s", ErrRule, body, m.in.FullName())
		}
		b.body = fp
		b.bound = append(b.bound, fp)
	}
	if rb := r.GetResponseBody(); rb != "" {
		fd := m.out.Fields().ByName(protoreflect.Name(rb))
		if fd == nil {
			return fmt.Errorf("%w: response_body %q is not a field of %s", ErrRule, rb, m.out.FullName())
		}
		b.respBody = fd
	}
	for _, o := range h.routes[verb] {
		if o.tmpl.src == t.src {
			return fmt.Errorf("%w: %s %s is bound twice (also to %s)", ErrRule, verb, path, o.m.fullName)
		}
	}
	h.routes[verb] = append(h.routes[verb], b)
	return nil
}

// allowed lists the HTTP methods with a route matching path, for a 405's Allow header.
func (h *Handler) allowed(path string) []string {
	var allow []string
	for verb, bs := range h.routes {
		for _, b := range bs {
			if b.tmpl.match(path, nil) {
				allow = append(allow, verb)
				break
			}
		}
	}
	slices.Sort(allow)
	return allow
}

// Routes lists "METHOD /template -> /pkg.Service/Method" for every binding, sorted, for
// logs and tests.
func (h *Handler) Routes() []string {
	var out []string
	for verb, bs := range h.routes {
		for _, b := range bs {
			out = append(out, fmt.Sprintf("%s %s -> %s", verb, b.tmpl.src, b.m.fullName))
		}
	}
	slices.Sort(out)
	return out
}

// joinAllow is the Allow header's value.
func joinAllow(allow []string) string { return strings.Join(allow, ", ") }
