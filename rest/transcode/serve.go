package transcode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// maxVars is how many path variables a call holds without allocating.
const maxVars = 8

// call is one HTTP request in flight. It is also the grpc.ServerTransportStream a Local
// handler sees, so grpc.SetHeader and grpc.SetTrailer work there; one allocation carries
// the whole request.
type call struct {
	h       *Handler
	b       *binding
	w       http.ResponseWriter
	r       *http.Request
	vars    [maxVars]string
	more    []string // variables past maxVars
	header  metadata.MD
	trailer metadata.MD
	decoded bool // the request message was read (streams read it once)
	sent    int  // stream messages written
}

// errTooLarge marks a body over the limit, answered with 413.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("request body is larger than %d bytes", e.limit)
}

// GRPCStatus makes the error a status for gRPC code paths too (an interceptor sees it).
func (e errTooLarge) GRPCStatus() *status.Status {
	return status.New(codes.ResourceExhausted, e.Error())
}

// ServeHTTP transcodes one request: it finds the route, decodes the request message from
// the path, the query and the body, calls the method and writes the response as JSON, or
// the error as rpc/httperr's body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	c := &call{h: h, w: w, r: r}
	for _, b := range h.routes[r.Method] {
		if b.tmpl.match(path, c.capture) {
			c.b = b
			break
		}
	}
	if c.b == nil {
		h.miss(w, r, path)
		return
	}
	if t := r.Header.Get("Grpc-Timeout"); t != "" {
		d, err := parseTimeout(t)
		if err != nil {
			httperr.Write(w, status.Newf(codes.InvalidArgument, "Grpc-Timeout %q: %v", t, err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		c.r = r.WithContext(ctx)
	}
	if c.b.m.serverStreaming {
		c.serveStream()
		return
	}
	resp, err := c.invoke()
	if err != nil {
		c.fail(err)
		return
	}
	c.writeMessage(resp)
}

// parseTimeout reads a gRPC timeout ("100m", "5S": digits and a unit of H, M, S, m, u or
// n), which a REST client sends as the Grpc-Timeout header to set the call's deadline.
func parseTimeout(s string) (time.Duration, error) {
	if len(s) < 2 || len(s) > 9 {
		return 0, errors.New("want 1 to 8 digits and a unit")
	}
	n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want 1 to 8 digits and a unit")
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, fmt.Errorf("unit %q is not one of H, M, S, m, u, n", s[len(s)-1])
	}
	return time.Duration(n) * unit, nil
}

func (c *call) capture(i int, raw string) {
	if i < maxVars {
		c.vars[i] = raw
		return
	}
	c.more = append(c.more, raw)
}

func (h *Handler) miss(w http.ResponseWriter, r *http.Request, path string) {
	if allow := h.allowed(path); len(allow) > 0 {
		w.Header().Set("Allow", joinAllow(allow))
		httperr.WriteHTTP(w, http.StatusMethodNotAllowed, status.Newf(codes.Unimplemented,
			"method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, joinAllow(allow)))
		return
	}
	httperr.Write(w, status.Newf(codes.NotFound, "no route for %s %s", r.Method, r.URL.Path))
}

func (c *call) invoke() (proto.Message, error) {
	m := c.b.m
	if m.conn == nil {
		ctx := grpc.NewContextWithServerTransportStream(c.incoming(), c)
		resp, err := m.unary(m.impl, ctx, c.decodeAny, c.h.unaryInt)
		if err != nil {
			return nil, err
		}
		msg, _ := resp.(proto.Message)
		return msg, nil
	}
	req := m.newIn()
	if err := c.decode(req); err != nil {
		return nil, err
	}
	resp := m.newOut()
	err := m.conn.Invoke(c.outgoing(), m.fullName, req, resp, grpc.Header(&c.header), grpc.Trailer(&c.trailer))
	return resp, err
}

// incoming and outgoing carry the request's headers to the method as gRPC metadata, so
// that auth, trace context and the rest reach it as from a gRPC client.
func (c *call) incoming() context.Context {
	return metadata.NewIncomingContext(c.r.Context(), headerMD(c.r.Header))
}

func (c *call) outgoing() context.Context {
	return metadata.NewOutgoingContext(c.r.Context(), headerMD(c.r.Header))
}

// headerMD is the metadata of an HTTP request's headers, less those that describe the
// HTTP connection or body rather than the call.
func headerMD(h http.Header) metadata.MD {
	md := make(metadata.MD, len(h))
	for k, v := range h {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te",
			"Trailer", "Host", "Content-Length", "Content-Type", "Accept-Encoding", "Grpc-Timeout":
			continue
		}
		md[strings.ToLower(k)] = v
	}
	return md
}

func (c *call) decodeAny(v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "request %T is not a protobuf message", v)
	}
	return c.decode(m)
}

// decode fills req from the body, then the path, then the query, so that the path wins
// over a body that names the same field, as grpc-gateway does.
func (c *call) decode(req proto.Message) error {
	b := c.b
	if b.bodyAll || b.body != nil {
		if err := c.decodeBody(req); err != nil {
			return err
		}
	}
	m := req.ProtoReflect()
	for i, fp := range b.vars {
		raw := c.variable(i)
		val, err := unescape(raw, b.tmpl.vars[i].multi)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "path variable %s: %v", fp, err)
		}
		one := [1]string{val}
		if err := setField(m, fp, one[:]); err != nil {
			return status.Errorf(codes.InvalidArgument, "path variable %v", err)
		}
	}
	if c.r.URL.RawQuery != "" {
		return c.decodeQuery(m)
	}
	return nil
}

func (c *call) variable(i int) string {
	if i < maxVars {
		return c.vars[i]
	}
	return c.more[i-maxVars]
}

// unescape decodes a path variable's %XX escapes. A variable of several segments keeps
// %2F (or %2f) as it is, so that its value's slashes are still the path's: google.api.http
// specifies that reverse of RFC 6570's reserved expansion.
func unescape(raw string, multi bool) (string, error) {
	if strings.IndexByte(raw, '%') < 0 {
		return raw, nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			out = append(out, raw[i])
			continue
		}
		if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
			return "", fmt.Errorf("bad escape %q", raw[i:min(i+3, len(raw))])
		}
		c := unhex(raw[i+1])<<4 | unhex(raw[i+2])
		if multi && c == '/' {
			out = append(out, raw[i:i+3]...)
		} else {
			out = append(out, c)
		}
		i += 2
	}
	return string(out), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func (c *call) decodeBody(req proto.Message) error {
	h := c.h
	if c.r.ContentLength > h.bodyLimit {
		return errTooLarge{h.bodyLimit}
	}
	bp := h.bufs.Get().(*[]byte)
	defer h.putBuf(bp)
	data, err := readLimited(c.r.Body, (*bp)[:0], h.bodyLimit)
	*bp = data[:0]
	if err != nil {
		return err
	}
	if len(data) == 0 { // an empty body leaves the fields unset, as in grpc-gateway
		return nil
	}
	target := req
	if b := c.b; b.body != nil {
		fd := b.body[0]
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			target = req.ProtoReflect().Mutable(fd).Message().Interface()
		} else {
			// A repeated or scalar field: read it as the one field of its message.
			wrapped := make([]byte, 0, len(data)+len(fd.JSONName())+5)
			wrapped = append(append(append(wrapped, `{"`...), fd.JSONName()...), `":`...)
			wrapped = append(append(wrapped, data...), '}')
			if err := h.unmarshal.Unmarshal(wrapped, req); err != nil {
				return bodyError("", wrapped, err) // its path starts with the field's name
			}
			return nil
		}
	}
	if err := h.unmarshal.Unmarshal(data, target); err != nil {
		prefix := ""
		if c.b.body != nil {
			prefix = c.b.body.String()
		}
		return bodyError(prefix, data, err)
	}
	return nil
}

// readLimited reads all of r into buf, failing with errTooLarge past limit bytes.
func readLimited(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errTooLarge{limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, status.Errorf(codes.InvalidArgument, "reading the body: %v", err)
		}
	}
}

func (h *Handler) putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 { // let a rare huge buffer go rather than pin it
		h.bufs.Put(bp)
	}
}

func (c *call) decodeQuery(m protoreflect.Message) error {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "query: %v", err)
	}
	for key, values := range q {
		if c.b.bodyAll {
			if c.h.strict {
				return status.Errorf(codes.InvalidArgument,
					"query parameter %q: the body sets the whole request", key)
			}
			continue
		}
		fp, err := resolvePath(m.Descriptor(), key, true)
		if err != nil {
			if c.h.strict {
				return status.Errorf(codes.InvalidArgument, "unknown query parameter %q: %v", key, err)
			}
			continue
		}
		if c.b.isBound(fp) {
			if c.h.strict {
				return status.Errorf(codes.InvalidArgument,
					"query parameter %q: the path or the body sets it", key)
			}
			continue
		}
		if err := setField(m, fp, values); err != nil {
			return status.Errorf(codes.InvalidArgument, "query parameter %q: %v", key, err)
		}
	}
	return nil
}

// isBound reports whether fp lies within, or contains, a field the path or body sets.
func (b *binding) isBound(fp fieldPath) bool {
	for _, bp := range b.bound {
		n := min(len(bp), len(fp))
		same := true
		for i := range n {
			if bp[i] != fp[i] {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// writeMessage writes a unary response, or its response_body field.
func (c *call) writeMessage(resp proto.Message) {
	h := c.h
	bp := h.bufs.Get().(*[]byte)
	defer h.putBuf(bp)
	out, err := c.appendJSON((*bp)[:0], resp)
	*bp = out[:0]
	if err != nil {
		c.fail(status.Errorf(codes.Internal, "encoding the response: %v", err))
		return
	}
	c.writeMetadata()
	c.w.Header().Set("Content-Type", "application/json")
	_, _ = c.w.Write(out)
}

func (c *call) appendJSON(buf []byte, resp proto.Message) ([]byte, error) {
	if resp == nil {
		return nil, errors.New("the method returned no message")
	}
	fd := c.b.respBody
	if fd == nil {
		return c.h.marshal.MarshalAppend(buf, resp)
	}
	m := resp.ProtoReflect()
	if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
		return c.h.marshal.MarshalAppend(buf, m.Get(fd).Message().Interface())
	}
	if !m.Has(fd) { // the body must be a JSON value even when the field is not set
		return append(buf, emptyJSON(fd)...), nil
	}
	// A scalar, repeated or map field: marshal it as the one field of its message and
	// keep the value.
	one := m.Type().New()
	one.Set(fd, m.Get(fd))
	start := len(buf)
	only := c.h.marshal
	only.EmitUnpopulated = false // one's other fields stay out
	buf, err := only.MarshalAppend(buf, one.Interface())
	if err != nil {
		return nil, err
	}
	js := buf[start:]
	i := bytes.IndexByte(js, ':') // {"name":value}: the name holds no colon
	if i < 0 {
		return append(buf[:start], emptyJSON(fd)...), nil
	}
	val := bytes.TrimSpace(js[i+1 : len(js)-1])
	return append(buf[:start], val...), nil // copy leftward within buf: append handles overlap
}

// emptyJSON is the JSON of a response_body field at its zero value.
func emptyJSON(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsList():
		return "[]" // what grpc-gateway writes, whether or not it emits zero fields
	case fd.IsMap():
		return "{}"
	}
	switch fd.Kind() {
	case protoreflect.StringKind, protoreflect.BytesKind:
		return `""`
	case protoreflect.BoolKind:
		return "false"
	case protoreflect.EnumKind:
		return `"` + string(fd.Enum().Values().ByNumber(0).Name()) + `"`
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return `"0"`
	}
	return "0"
}

// writeMetadata writes the method's header and trailer metadata as grpc-gateway does:
// Grpc-Metadata-<key> and Grpc-Trailer-<key> headers. content-type is the transport's, not
// the method's: grpc-go reports it as metadata (as trailer metadata for a trailers-only
// error answer).
func (c *call) writeMetadata() {
	hdr := c.w.Header()
	for k, v := range c.header {
		if k != "content-type" {
			hdr["Grpc-Metadata-"+http.CanonicalHeaderKey(k)] = v
		}
	}
	for k, v := range c.trailer {
		if k != "content-type" {
			hdr["Grpc-Trailer-"+http.CanonicalHeaderKey(k)] = v
		}
	}
}

// fail answers err as rpc/httperr's body: 413 for a body over the limit, else the HTTP
// status of its gRPC code.
func (c *call) fail(err error) {
	c.writeMetadata()
	var big errTooLarge
	if errors.As(err, &big) {
		httperr.WriteHTTP(c.w, http.StatusRequestEntityTooLarge, status.New(codes.ResourceExhausted, big.Error()))
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	httperr.Write(c.w, st)
}

// grpc.ServerTransportStream, for grpc.SetHeader and friends inside Local handlers.

func (c *call) Method() string { return c.b.m.fullName }

func (c *call) SetHeader(md metadata.MD) error {
	c.header = metadata.Join(c.header, md)
	return nil
}

func (c *call) SendHeader(md metadata.MD) error { return c.SetHeader(md) }

func (c *call) SetTrailer(md metadata.MD) error {
	c.trailer = metadata.Join(c.trailer, md)
	return nil
}
