// Package headerfloor builds the floors that trace propagation is measured against: gRPC
// options whose interceptors send a traceparent header with every call and read it on the
// server, and do nothing else.
package headerfloor

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// traceID is the trace ID of every header sent: only the span ID changes, as in one trace.
const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// Constant returns options that send the same traceparent with every call: after the
// first, HPACK sends it as an index into its table.
func Constant() ([]grpc.ServerOption, []grpc.DialOption) { return Options(constant) }

func constant() string { return "00-" + traceID + "-00f067aa0ba902b7-00" }

// Unique returns options that send a traceparent with a new span ID in every call, as real
// propagation does: HPACK can no longer index it, so grpc-go encodes, decodes and stores it
// anew per call. This is the floor under any propagation of W3C context through grpc-go.
func Unique() ([]grpc.ServerOption, []grpc.DialOption) { return Options(unique) }

func unique() string {
	const prefix = "00-" + traceID + "-"
	var sid [8]byte
	binary.BigEndian.PutUint64(sid[:], rand.Uint64())
	b := make([]byte, 0, len(prefix)+16+3)
	b = hex.AppendEncode(append(b, prefix...), sid[:])
	return string(append(b, "-00"...))
}

// Options returns a server option whose interceptor reads the traceparent header and a dial
// option whose interceptor sends the one value returns, per call.
func Options(value func() string) ([]grpc.ServerOption, []grpc.DialOption) {
	return []grpc.ServerOption{grpc.UnaryInterceptor(read)}, []grpc.DialOption{grpc.WithUnaryInterceptor(sender(value))}
}

func read(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	_ = metadata.ValueFromIncomingContext(ctx, "traceparent")
	return h(ctx, req)
}

func sender(value func() string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, "traceparent", value()), method, req, reply, cc, opts...)
	}
}
