package transcode

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// ndjson is the Content-Type of a stream's answer.
const ndjson = "application/x-ndjson"

// serveStream answers a server-streaming method with newline-delimited JSON, one line per
// message, each flushed as it comes: {"result": <message>} as grpc-gateway writes it, and
// {"error": <rpc/httperr body>} as the last line when the stream fails after its first
// message. A stream that fails before its first message is answered as a unary error.
func (c *call) serveStream() {
	m := c.b.m
	var err error
	if m.conn == nil {
		ss := &serverStream{call: c, ctx: c.incoming()}
		ss.ctx = grpc.NewContextWithServerTransportStream(ss.ctx, c)
		info := &grpc.StreamServerInfo{FullMethod: m.fullName, IsServerStream: true}
		if c.h.streamInt != nil {
			err = c.h.streamInt(m.impl, ss, info, m.stream)
		} else {
			err = m.stream(m.impl, ss)
		}
	} else {
		err = c.proxyStream()
	}
	if err == nil {
		if c.sent == 0 {
			c.writeMetadata()
			c.w.Header().Set("Content-Type", ndjson)
			c.w.WriteHeader(http.StatusOK)
		}
		return
	}
	if c.sent == 0 {
		c.fail(err)
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	line, jerr := json.Marshal(map[string]httperr.Body{"error": httperr.New(st)})
	if jerr == nil {
		_, _ = c.w.Write(append(line, '\n'))
	}
}

func (c *call) proxyStream() error {
	m := c.b.m
	req := m.newIn()
	if err := c.decode(req); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(c.outgoing())
	defer cancel() // ends the stream if the HTTP client goes or a write fails
	s, err := m.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, m.fullName)
	if err != nil {
		return err
	}
	if err := s.SendMsg(req); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	for {
		resp := m.newOut()
		if err := s.RecvMsg(resp); err != nil {
			if c.sent == 0 {
				c.header, _ = s.Header()
			}
			c.trailer = s.Trailer()
			if err == io.EOF {
				return nil
			}
			return err
		}
		if c.sent == 0 {
			c.header, _ = s.Header()
		}
		if err := c.writeLine(resp); err != nil {
			return err
		}
	}
}

// writeLine writes one stream message and flushes it to the client.
func (c *call) writeLine(msg proto.Message) error {
	h := c.h
	bp := h.bufs.Get().(*[]byte)
	defer h.putBuf(bp)
	out := append((*bp)[:0], `{"result":`...)
	out, err := c.appendJSON(out, msg)
	if err != nil {
		*bp = out[:0]
		return status.Errorf(codes.Internal, "encoding a stream message: %v", err)
	}
	out = append(out, '}', '\n')
	*bp = out[:0]
	if c.sent == 0 {
		c.writeMetadata()
		c.w.Header().Set("Content-Type", ndjson)
		c.w.WriteHeader(http.StatusOK)
	}
	c.sent++
	if _, err := c.w.Write(out); err != nil {
		return status.FromContextError(err).Err()
	}
	return http.NewResponseController(c.w).Flush()
}

// serverStream is the grpc.ServerStream a Local streaming handler sees: RecvMsg yields the
// transcoded request once, SendMsg writes a line.
type serverStream struct {
	*call
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

func (s *serverStream) SetTrailer(md metadata.MD) { _ = s.call.SetTrailer(md) }

func (s *serverStream) SendMsg(m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "response %T is not a protobuf message", m)
	}
	return s.writeLine(msg)
}

func (s *serverStream) RecvMsg(m any) error {
	if s.decoded {
		return io.EOF
	}
	s.decoded = true
	return s.decodeAny(m)
}
