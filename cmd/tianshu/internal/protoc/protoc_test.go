package protoc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// repoRoot is the Tianshu checkout this file belongs to.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// withoutProtocVersion blanks the version of protoc in the header, the only thing that
// tells stubs made by protoc from stubs made in process ("(unknown)").
func withoutProtocVersion(b []byte) string {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines[:min(8, len(lines))] {
		if strings.HasPrefix(l, "// \tprotoc ") || strings.HasPrefix(l, "// - protoc ") {
			lines[i] = "// protoc version"
		}
	}
	return strings.Join(lines, "\n")
}

func TestStubsEqualTheGreeterStubsMadeByProtoc(t *testing.T) {
	root := repoRoot(t)
	const proto = "examples/greeter/greeterpb/greeter.proto"
	out, err := Render(context.Background(), root, []string{proto})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"greeter.pb.go", "greeter_grpc.pb.go"} {
		path := "examples/greeter/greeterpb/" + name
		want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := out[path]
		if !ok {
			t.Fatalf("no %s generated; got %v", path, keys(out))
		}
		if withoutProtocVersion(got) != withoutProtocVersion(want) {
			t.Errorf("%s differs from the file protoc made", path)
		}
	}
}

// TestStubsEqualProtocsOnEveryKindOfMethodAndField runs the real protoc, when installed, on
// protos with streams, imports, well-known types, enums, oneofs, maps and options, and
// compares its output with ours.
func TestStubsEqualProtocsOnEveryKindOfMethodAndField(t *testing.T) {
	protocBin, err := exec.LookPath("protoc")
	if err != nil {
		testenv.Missing(t, "protoc (Debian protobuf-compiler)")
	}
	// Debian's protoc finds the well-known types in /usr/include, which protobuf-compiler
	// only recommends: without libprotobuf-dev every import of google/protobuf fails.
	if _, err := os.Stat("/usr/include/google/protobuf/duration.proto"); err != nil {
		testenv.Missing(t, "the well-known .proto files (Debian libprotobuf-dev)")
	}
	if testing.Short() {
		t.Skip("builds both plugins")
	}
	bin := t.TempDir()
	build := func(args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "GOBIN="+bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	build("build", "-o", filepath.Join(bin, "protoc-gen-go"), "google.golang.org/protobuf/cmd/protoc-gen-go")
	build("install", "google.golang.org/grpc/cmd/protoc-gen-go-grpc@"+GRPCPluginVersion)

	files := []string{"shop/v1/shop.proto", "shop/v1/types.proto"}
	outDir := t.TempDir()
	cmd := exec.Command(protocBin, append([]string{
		"--plugin=protoc-gen-go=" + filepath.Join(bin, "protoc-gen-go"),
		"--plugin=protoc-gen-go-grpc=" + filepath.Join(bin, "protoc-gen-go-grpc"),
		"--go_out=" + outDir, "--go_opt=paths=source_relative",
		"--go-grpc_out=" + outDir, "--go-grpc_opt=paths=source_relative",
		"-I", "testdata",
	}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, out)
	}
	got, err := Render(context.Background(), "testdata", files,
		WithGRPCPlugin(filepath.Join(bin, "protoc-gen-go-grpc")))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"shop/v1/shop.pb.go", "shop/v1/shop_grpc.pb.go", "shop/v1/types.pb.go"}
	if !slices.Equal(keys(got), want) {
		t.Fatalf("generated %v, want %v", keys(got), want)
	}
	for _, name := range want {
		b, err := os.ReadFile(filepath.Join(outDir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if withoutProtocVersion(got[name]) != withoutProtocVersion(b) {
			t.Errorf("%s differs from protoc's", name)
		}
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func TestErrorsSayWhatToFix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.proto"), []byte("syntax = \"proto3\";\nmessage M {\n  string a = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
		opts  []Option
		want  error
		say   string
	}{
		{"a syntax error names the file and line", []string{"bad.proto"}, nil, ErrCompile, "bad.proto:4"},
		{"a missing file is a compile error naming it", []string{"missing.proto"}, nil, ErrCompile, "missing.proto"},
		{"no files at all is ErrNoProto", nil, nil, ErrNoProto, dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(context.Background(), dir, tt.files, tt.opts...)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("Render = %v, want %v mentioning %q", err, tt.want, tt.say)
			}
		})
	}
}

func TestAFailingPluginSaysHowToWorkOffline(t *testing.T) {
	_, err := Render(context.Background(), "testdata", []string{"shop/v1/types.proto"}, WithGRPCPlugin("false"))
	if !errors.Is(err, ErrPlugin) || !strings.Contains(err.Error(), "--grpc-plugin") {
		t.Fatalf("Render with a failing plugin = %v, want ErrPlugin suggesting --grpc-plugin", err)
	}
}

func TestFindSkipsHiddenVendorAndTestdataDirectories(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"api/a.proto", "api/v1/b.proto", ".git/c.proto", "vendor/d.proto", "testdata/e.proto", "api/notes.txt"} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Find(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"api/a.proto", "api/v1/b.proto"}; !slices.Equal(got, want) {
		t.Errorf("Find = %v, want %v", got, want)
	}
}

// TestGoogleAPIAnnotationsResolveWithNoIncludePath compiles a service with google.api.http
// rules in a directory that holds only its own file: google/api/annotations.proto and
// google/api/http.proto come from the descriptors linked into the binary.
func TestGoogleAPIAnnotationsResolveWithNoIncludePath(t *testing.T) {
	dir := t.TempDir()
	const src = `syntax = "proto3";
package books.v1;
option go_package = "example.com/books/v1;booksv1";
import "google/api/annotations.proto";
message GetBookRequest { string name = 1; }
message Book { string name = 1; }
service Books {
  rpc GetBook(GetBookRequest) returns (Book) {
    option (google.api.http) = { get: "/v1/{name=shelves/*/books/*}" };
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "books.proto"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := Render(context.Background(), dir, []string{"books.proto"})
	if err != nil {
		t.Fatalf("Render = %v, want the google/api imports resolved with no include path", err)
	}
	if _, ok := out["books_grpc.pb.go"]; !ok {
		t.Errorf("no gRPC stubs; got %v", keys(out))
	}
	got := string(out["books.pb.go"])
	if !strings.Contains(got, `_ "google.golang.org/genproto/googleapis/api/annotations"`) {
		t.Errorf("books.pb.go does not import the annotations package:\n%s", got)
	}
}
