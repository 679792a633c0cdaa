package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
)

// echoServer answers with the payload, or, for a payload "code:N", with status code N.
type echoServer struct {
	testpb.UnimplementedEchoServer
	id   string
	next testpb.EchoClient // when set, each call is forwarded there first
}

func (s *echoServer) Echo(ctx context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	if p, ok := strings.CutPrefix(string(req.Payload), "code:"); ok {
		n, _ := strconv.Atoi(p)
		return nil, status.Error(codes.Code(n), "asked for "+codes.Code(n).String())
	}
	if s.next != nil {
		if _, err := s.next.Echo(ctx, req); err != nil {
			return nil, err
		}
	}
	return &testpb.EchoReply{Payload: req.Payload, ServedBy: s.id}, nil
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The IDs of the W3C Trace Context specification's examples.
var (
	testTraceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	testSpanID  = trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
)
