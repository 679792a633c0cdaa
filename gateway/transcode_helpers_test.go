package gateway_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	refpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// Google's annotations, which inventory.proto imports, from the descriptors Go links in.
	_ "google.golang.org/genproto/googleapis/api/annotations"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
)

const inventoryService = "tianshu.gateway.test.Inventory"

// inventoryDescriptors compiles testdata/inventory.proto and returns what protoc
// --descriptor_set_out --include_imports would write, and the files read back from it.
func inventoryDescriptors(t testing.TB) ([]byte, *protoregistry.Files) {
	t.Helper()
	data, files, err := compileInventory()
	if err != nil {
		t.Fatal(err)
	}
	return data, files
}

func compileInventory() ([]byte, *protoregistry.Files, error) {
	linked := protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
		if err != nil {
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Desc: fd}, nil
	})
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
		&protocompile.SourceResolver{ImportPaths: []string{"testdata"}}, linked,
	})}
	res, err := c.Compile(context.Background(), "inventory.proto")
	if err != nil {
		return nil, nil, err
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(res[0])
	data, err := proto.Marshal(set)
	if err != nil {
		return nil, nil, err
	}
	// Read back from the bytes, as the gateway reads a file: the options are then decoded
	// with the google.api.http extension the program links in.
	var back descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &back); err != nil {
		return nil, nil, err
	}
	files, err := protodesc.NewFiles(&back)
	return data, files, err
}

// writeDescriptorSet writes data to a file in a temporary directory and returns its path.
func writeDescriptorSet(t testing.TB, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "inventory.pb")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileRegistry opens a registry/file registry in a temporary directory, polled often so
// that the tests see changes quickly.
func fileRegistry(t testing.TB) *file.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := file.New(ctx, t.TempDir(), file.WithPollInterval(50*time.Millisecond), file.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

// inventory is a gRPC server of the Inventory service on a loopback port, with dynamic
// messages, counting the connections open to it.
type inventory struct {
	id    string
	port  int
	srv   *grpc.Server
	open  atomic.Int64
	calls atomic.Int64
	stop  sync.Once
}

// startInventory serves the service described by files; with reflect, gRPC server
// reflection answers from files too.
func startInventory(t testing.TB, id string, files *protoregistry.Files, reflect bool, opts ...grpc.ServerOption) *inventory {
	t.Helper()
	inv, err := serveInventory(id, files, reflect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inv.close)
	return inv
}

// serveInventory is startInventory for examples; close the server with inv.close.
func serveInventory(id string, files *protoregistry.Files, reflect bool, opts ...grpc.ServerOption) (*inventory, error) {
	d, err := files.FindDescriptorByName(inventoryService)
	if err != nil {
		return nil, err
	}
	sd := d.(protoreflect.ServiceDescriptor)
	inv := &inventory{id: id}
	desc := grpc.ServiceDesc{ServiceName: inventoryService, HandlerType: (*any)(nil), Metadata: "inventory.proto"}
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		if md.IsStreamingServer() {
			desc.Streams = append(desc.Streams, grpc.StreamDesc{StreamName: string(md.Name()), ServerStreams: true,
				Handler: func(_ any, ss grpc.ServerStream) error {
					inv.calls.Add(1)
					in := dynamicpb.NewMessage(md.Input())
					if err := ss.RecvMsg(in); err != nil {
						return err
					}
					shelf := field(in, "shelf").String()
					for n := range field(in, "limit").Int() {
						out := inv.item(md.Output(), shelf, fmt.Sprintf("sku-%d", n), "", int32(n))
						if err := ss.SendMsg(out); err != nil {
							return err
						}
					}
					return nil
				}})
			continue
		}
		desc.Methods = append(desc.Methods, grpc.MethodDesc{MethodName: string(md.Name()),
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				inv.calls.Add(1)
				in := dynamicpb.NewMessage(md.Input())
				if err := dec(in); err != nil {
					return nil, err
				}
				shelf := field(in, "shelf").String()
				if md.Name() == "PutItem" {
					item := field(in, "item").Message()
					if item.Get(item.Descriptor().Fields().ByName("sku")).String() == "broken" {
						return nil, status.Error(codes.Unavailable, "the shelf is being restocked")
					}
					return inv.item(md.Output(), shelf, item.Get(item.Descriptor().Fields().ByName("sku")).String(),
						item.Get(item.Descriptor().Fields().ByName("name")).String(),
						int32(item.Get(item.Descriptor().Fields().ByName("count")).Int())), nil
				}
				switch sku := field(in, "sku").String(); sku {
				case "missing":
					return nil, status.Errorf(codes.NotFound, "no item %s on shelf %s", sku, shelf)
				case "broken":
					return nil, status.Error(codes.Unavailable, "the shelf is being restocked")
				default:
					name := "item " + sku
					if meta, _ := metadata.FromIncomingContext(ctx); len(meta.Get("x-tenant")) > 0 {
						name += " for " + meta.Get("x-tenant")[0]
					}
					return inv.item(md.Output(), shelf, sku, name, 7), nil
				}
			}})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	inv.port = lis.Addr().(*net.TCPAddr).Port
	inv.srv = grpc.NewServer(opts...)
	inv.srv.RegisterService(&desc, struct{}{})
	if reflect {
		refpb.RegisterServerReflectionServer(inv.srv, reflection.NewServerV1(reflection.ServerOptions{
			Services: inv.srv, DescriptorResolver: files}))
	}
	go func() { _ = inv.srv.Serve(&countingListener{Listener: lis, open: &inv.open}) }()
	return inv, nil
}

func (inv *inventory) close() { inv.stop.Do(inv.srv.Stop) }

func (inv *inventory) item(md protoreflect.MessageDescriptor, shelf, sku, name string, count int32) *dynamicpb.Message {
	m := dynamicpb.NewMessage(md)
	set := func(f string, v protoreflect.Value) { m.Set(md.Fields().ByName(protoreflect.Name(f)), v) }
	set("shelf", protoreflect.ValueOfString(shelf))
	set("sku", protoreflect.ValueOfString(sku))
	set("name", protoreflect.ValueOfString(name))
	set("count", protoreflect.ValueOfInt32(count))
	set("served_by", protoreflect.ValueOfString(inv.id))
	return m
}

func field(m *dynamicpb.Message, name string) protoreflect.Value {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
}

// register announces inv in reg as an instance of service "inventory"; deregistered when
// the test ends.
func (inv *inventory) register(t testing.TB, reg registry.Registry) *registry.Instance {
	t.Helper()
	in := &registry.Instance{ID: inv.id, Service: "inventory",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: inv.port}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = reg.Deregister(ctx, in)
	})
	return in
}

// countingListener counts the connections it accepted that are still open.
type countingListener struct {
	net.Listener
	open *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, open: l.open}, nil
}

type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}
