package transcode_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/tianshu-go/tianshu/rest/transcode"
	"github.com/tianshu-go/tianshu/rest/transcode/internal/testpb"
)

// TestLocalCallsRunTheGivenInterceptors: in process there is no grpc.Server, so auth and
// the like run only if passed; an interceptor that refuses a call without credentials must
// turn it into a 401 for unary and streaming methods alike.
func TestLocalCallsRunTheGivenInterceptors(t *testing.T) {
	authorized := func(ctx context.Context) error {
		if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("authorization")) == 0 {
			return status.Error(codes.Unauthenticated, "who are you")
		}
		return nil
	}
	var methods []string
	outer := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		methods = append(methods, "outer")
		return h(ctx, req)
	}
	be := newBackends(t, "local", false,
		transcode.WithUnaryInterceptors(outer, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			methods = append(methods, info.FullMethod)
			if err := authorized(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		transcode.WithStreamInterceptors(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			methods = append(methods, info.FullMethod)
			if err := authorized(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}))
	for _, target := range []string{"/v1/shelves/s1/books/b1", "/v1/shelves/s1/books:stream"} {
		checkError(t, serve(be.ours, "GET", target, ""), 401, "UNAUTHENTICATED", "who are you")
		if got := serve(be.ours, "GET", target, "", "Authorization", "Bearer t"); got.code != 200 {
			t.Errorf("%s with credentials: %d %s", target, got.code, got.body)
		}
	}
	want := []string{"outer", "/" + serviceName + "/GetBook", "outer", "/" + serviceName + "/GetBook",
		"/" + serviceName + "/StreamBooks", "/" + serviceName + "/StreamBooks"}
	if strings.Join(methods, " ") != strings.Join(want, " ") {
		t.Errorf("interceptors saw %v, want %v", methods, want)
	}
}

// TestARemoteServiceNeedsOnlyItsDescriptors serves a service whose descriptors come from
// elsewhere (as from server reflection): its messages are dynamic, and the answers the same.
func TestARemoteServiceNeedsOnlyItsDescriptors(t *testing.T) {
	files := new(protoregistry.Files)
	var add func(path string)
	add = func(path string) {
		if _, err := files.FindFileByPath(path); err == nil {
			return
		}
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).Path())
		}
		// A copy made from the descriptor proto: the same schema, none of the Go types.
		copied, err := protodesc.NewFile(proto.Clone(protodesc.ToFileDescriptorProto(fd)).(*descriptorpb.FileDescriptorProto), files)
		if err != nil {
			t.Fatal(err)
		}
		if err := files.RegisterFile(copied); err != nil {
			t.Fatal(err)
		}
	}
	add(testpb.File_bookstore_proto.Path())

	impl := &bookstore{}
	conn := startGRPC(t, impl)
	dynamic, err := transcode.New(transcode.WithFiles(files), transcode.Remote(conn, serviceName))
	if err != nil {
		t.Fatal(err)
	}
	linked, err := transcode.New(transcode.Remote(conn, serviceName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			got := serve(dynamic, tt.method, tt.target, tt.body)
			req, _ := impl.lastRequest()
			want := serve(linked, tt.method, tt.target, tt.body)
			if got.code != 200 || !proto.Equal(req, tt.want) {
				t.Fatalf("%d %s; the method received %v, want %v", got.code, got.body, req, tt.want)
			}
			if !sameJSON(t, lastLine(got.body), lastLine(want.body)) {
				t.Errorf("dynamic:\n%s\nlinked:\n%s", got.body, want.body)
			}
		})
	}
}

func lastLine(s string) string {
	lines := splitLines(s)
	return lines[len(lines)-1]
}
