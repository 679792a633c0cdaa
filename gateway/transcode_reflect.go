package gateway

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	refpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// reflectTimeout bounds one attempt at the descriptors, so that an instance that accepts
// the stream and never answers does not stall the retries.
const reflectTimeout = 10 * time.Second

// fetchDescriptors asks an instance behind conn, by gRPC server reflection, for the files
// defining services and every file they import. An import the server does not know is
// taken from the program's own registry when it is there (google/api/annotations.proto,
// the well-known types), since a server built without it could not have used it either.
func fetchDescriptors(ctx context.Context, conn *grpc.ClientConn, services []string) (*protoregistry.Files, error) {
	ctx, cancel := context.WithTimeout(ctx, reflectTimeout)
	defer cancel() // ends the stream
	stream, err := refpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: reflection: %w", ErrDescriptors, err)
	}
	got := map[string]*descriptorpb.FileDescriptorProto{}
	ask := func(req *refpb.ServerReflectionRequest, what string) error {
		if err := stream.Send(req); err != nil {
			return fmt.Errorf("%w: reflection, asking for %s: %w", ErrDescriptors, what, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("%w: reflection, asking for %s: %w", ErrDescriptors, what, err)
		}
		if e := resp.GetErrorResponse(); e != nil {
			return fmt.Errorf("%w: reflection, asking for %s: %s (%s)", ErrDescriptors, what, e.GetErrorMessage(),
				codes.Code(e.GetErrorCode()))
		}
		for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(raw, fd); err != nil {
				return fmt.Errorf("%w: reflection, asking for %s: a file that does not parse: %w", ErrDescriptors, what, err)
			}
			got[fd.GetName()] = fd
		}
		return nil
	}
	for _, s := range services {
		req := &refpb.ServerReflectionRequest{MessageRequest: &refpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: s}}
		if err := ask(req, "service "+s); err != nil {
			return nil, err
		}
	}
	// Servers send a file with its imports, but only those the stream has not sent yet and
	// not always all of them: ask for what is still missing, file by file.
	for {
		missing := ""
		for _, fd := range got {
			for _, dep := range fd.GetDependency() {
				if got[dep] == nil {
					missing = dep
					break
				}
			}
			if missing != "" {
				break
			}
		}
		if missing == "" {
			break
		}
		req := &refpb.ServerReflectionRequest{MessageRequest: &refpb.ServerReflectionRequest_FileByFilename{FileByFilename: missing}}
		if err := ask(req, "file "+missing); err != nil {
			own, ferr := protoregistry.GlobalFiles.FindFileByPath(missing)
			if ferr != nil {
				return nil, err
			}
			got[missing] = protodesc.ToFileDescriptorProto(own)
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range got {
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("%w: reflection: the files returned do not link: %w", ErrDescriptors, err)
	}
	return files, nil
}
