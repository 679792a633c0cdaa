package protoc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	// Registers google/api/annotations.proto and google/api/http.proto for linkedIn.
	_ "google.golang.org/genproto/googleapis/api/annotations"
	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// GRPCPluginVersion is the protoc-gen-go-grpc release run by default: the one the
// project's own stubs were made with.
const GRPCPluginVersion = "v1.6.2"

// DefaultGRPCPlugin is the command that generates the gRPC stubs unless WithGRPCPlugin
// says otherwise. `go run pkg@version` fetches the plugin through the module proxy on
// first use and builds it from the module cache afterwards, so only Go is needed.
var DefaultGRPCPlugin = []string{"go", "run", "google.golang.org/grpc/cmd/protoc-gen-go-grpc@" + GRPCPluginVersion}

// Errors Generate returns, wrapped with details.
var (
	// ErrCompile: a .proto file does not parse or does not link (its position is in the
	// message).
	ErrCompile = errors.New(".proto compile failed")
	// ErrPlugin: a code generator (protoc-gen-go, linked in, or the gRPC plugin) failed.
	ErrPlugin = errors.New("code generator failed")
	// ErrNoProto: there is no .proto file to generate from.
	ErrNoProto = errors.New("no .proto files")
)

// Option configures Generate.
type Option func(*options)

type options struct {
	plugin []string
	stderr *bytes.Buffer
}

// WithGRPCPlugin sets the command (program and arguments) run as the gRPC plugin, for
// example {"protoc-gen-go-grpc"} for an installed binary. Empty keeps the default.
func WithGRPCPlugin(argv ...string) Option {
	return func(o *options) {
		if len(argv) > 0 {
			o.plugin = argv
		}
	}
}

// Generate compiles files (slash-separated paths relative to root, which is also the import
// path) and writes the generated Go files beside them, as `protoc --go_out=.
// --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative` run in
// root would. It returns the written paths, relative to root.
func Generate(ctx context.Context, root string, files []string, opts ...Option) ([]string, error) {
	out, err := Render(ctx, root, files, opts...)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, out[name], 0o644); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// Render is Generate without writing: it returns the generated files by path relative
// to root.
func Render(ctx context.Context, root string, files []string, opts ...Option) (map[string][]byte, error) {
	o := options{plugin: DefaultGRPCPlugin}
	for _, opt := range opts {
		opt(&o)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w under %s", ErrNoProto, root)
	}
	req, err := Request(ctx, root, files)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	if err := genMessages(req, out); err != nil {
		return nil, err
	}
	if err := genGRPC(ctx, root, o.plugin, req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Request compiles files in process and returns the CodeGeneratorRequest protoc would
// send a plugin with the parameter paths=source_relative.
func Request(ctx context.Context, root string, files []string) (*pluginpb.CodeGeneratorRequest, error) {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
			&protocompile.SourceResolver{ImportPaths: []string{root}},
			protocompile.ResolverFunc(linkedIn),
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := c.Compile(ctx, files...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: files,
		Parameter:      proto.String("paths=source_relative"),
	}
	// protoc sends every file the generated ones depend on, dependencies first.
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, fileProto(fd))
	}
	for _, f := range compiled {
		add(f)
	}
	for _, f := range compiled {
		req.SourceFileDescriptors = append(req.SourceFileDescriptors, fileProto(f))
	}
	return req, nil
}

// linkedIn resolves an import that is not under root from the descriptors linked into this
// binary, google/api/annotations.proto and google/api/http.proto among them, so a service
// with google.api.http rules compiles with Go alone: no copied files, no include path.
func linkedIn(path string) (protocompile.SearchResult, error) {
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		return protocompile.SearchResult{}, err
	}
	return protocompile.SearchResult{Desc: fd}, nil
}

// fileProto prefers the compiler's own descriptor proto, which keeps the source order
// and the comments exactly as protoc reports them.
func fileProto(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	if r, ok := fd.(linker.Result); ok {
		return r.FileDescriptorProto()
	}
	return protodesc.ToFileDescriptorProto(fd)
}

// genMessages runs protoc-gen-go's generator in process.
func genMessages(req *pluginpb.CodeGeneratorRequest, out map[string][]byte) error {
	plugin, err := protogen.Options{}.New(req)
	if err != nil {
		return fmt.Errorf("%w: protoc-gen-go: %w", ErrPlugin, err)
	}
	for _, f := range plugin.Files {
		if f.Generate {
			gengo.GenerateFile(plugin, f)
		}
	}
	plugin.SupportedFeatures = gengo.SupportedFeatures
	plugin.SupportedEditionsMinimum = gengo.SupportedEditionsMinimum
	plugin.SupportedEditionsMaximum = gengo.SupportedEditionsMaximum
	return collect("protoc-gen-go", plugin.Response(), out)
}

// genGRPC feeds the request to the gRPC plugin as protoc would: on its standard input.
func genGRPC(ctx context.Context, root string, argv []string, req *pluginpb.CodeGeneratorRequest, out map[string][]byte) error {
	in, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = root
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s: %w\n%s\n(the first run fetches the plugin through the Go module proxy; "+
			"offline, install protoc-gen-go-grpc %s and pass --grpc-plugin protoc-gen-go-grpc)",
			ErrPlugin, strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()), GRPCPluginVersion)
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	if err := proto.Unmarshal(stdout.Bytes(), resp); err != nil {
		return fmt.Errorf("%w: %s wrote no CodeGeneratorResponse: %w", ErrPlugin, strings.Join(argv, " "), err)
	}
	return collect(argv[len(argv)-1], resp, out)
}

func collect(plugin string, resp *pluginpb.CodeGeneratorResponse, out map[string][]byte) error {
	if resp.Error != nil {
		return fmt.Errorf("%w: %s: %s", ErrPlugin, plugin, resp.GetError())
	}
	for _, f := range resp.File {
		if f.GetInsertionPoint() != "" {
			return fmt.Errorf("%w: %s: insertion points are not supported", ErrPlugin, plugin)
		}
		out[f.GetName()] = []byte(f.GetContent())
	}
	return nil
}

// Find returns the .proto files under root, slash-separated and relative to root,
// skipping hidden directories, vendor and testdata.
func Find(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root {
			if n := d.Name(); strings.HasPrefix(n, ".") || n == "vendor" || n == "testdata" || n == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(path, ".proto") {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files, err
}
