// Package protoc generates Go and gRPC stubs from .proto files with nothing but Go
// installed: the files are parsed and linked in process by github.com/bufbuild/protocompile,
// the message code comes from protoc-gen-go's own generator linked into this binary, and
// the gRPC code from protoc-gen-go-grpc run as a plugin (by default through
// `go run google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2`), fed the same
// CodeGeneratorRequest protoc would send it.
//
//	written, err := protoc.Generate(ctx, ".", []string{"orderspb/orders.proto"})
package protoc
