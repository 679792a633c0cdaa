package telemetry_test

import (
	"context"
	"errors"
	"io"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/telemetry"
)

// countDesc is a server-streaming method that sends the request's payload back three
// times, or fails with NotFound after one message when the payload is "fail".
var countDesc = grpc.ServiceDesc{
	ServiceName: "tianshu.test.Stream",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{StreamName: "Count", ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			var req testpb.EchoRequest
			if err := ss.RecvMsg(&req); err != nil {
				return err
			}
			for i := range 3 {
				if i == 1 && string(req.Payload) == "fail" {
					return status.Error(codes.NotFound, "no more")
				}
				if err := ss.SendMsg(&testpb.EchoReply{Payload: req.Payload}); err != nil {
					return err
				}
			}
			return nil
		}}},
}

func TestStreamInterceptorsEndSpansWithTheStreamsStatus(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o := []telemetry.Option{telemetry.WithTracerProvider(tp), telemetry.WithTextMapPropagator(telemetry.Propagator())}
	srv := grpc.NewServer(grpc.StreamInterceptor(telemetry.NewServerHandler(o...).StreamServerInterceptor()))
	srv.RegisterService(&countDesc, struct{}{})
	lis := listenLoopback(t)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	cases := []struct {
		name    string
		payload string
		want    codes.Code
	}{
		{"a stream read to its end is OK", "ok", codes.OK},
		{"a stream the server fails carries its code", "fail", codes.NotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec.Reset()
			cc := dialConn(t, lis.Addr().String(),
				grpc.WithStreamInterceptor(telemetry.NewClientHandler(o...).StreamClientInterceptor()))
			cs, err := cc.NewStream(context.Background(), &countDesc.Streams[0], "/tianshu.test.Stream/Count")
			if err != nil {
				t.Fatal(err)
			}
			if err := cs.SendMsg(&testpb.EchoRequest{Payload: []byte(c.payload)}); err != nil {
				t.Fatal(err)
			}
			_ = cs.CloseSend()
			for {
				var reply testpb.EchoReply
				if err := cs.RecvMsg(&reply); err != nil {
					if !errors.Is(err, io.EOF) && status.Code(err) != c.want {
						t.Fatalf("stream ended with %v, want %v", err, c.want)
					}
					break
				}
			}
			spans := waitSpans(t, rec, 2)
			if len(spans) != 2 {
				t.Fatalf("recorded %d spans, want a client and a server span", len(spans))
			}
			for _, s := range spans {
				var code string
				for _, kv := range s.Attributes() {
					if kv.Key == "rpc.response.status_code" {
						code = kv.Value.AsString()
					}
				}
				if s.Name() != "tianshu.test.Stream/Count" || code != statusName(c.want) {
					t.Errorf("%s span %q ended with status code %q, want %q", s.SpanKind(), s.Name(), code, statusName(c.want))
				}
			}
			if spans[0].SpanContext().TraceID() != spans[1].SpanContext().TraceID() {
				t.Error("the client and server spans are in different traces")
			}
		})
	}
}

func statusName(c codes.Code) string {
	if c == codes.OK {
		return "OK"
	}
	return "NOT_FOUND"
}
