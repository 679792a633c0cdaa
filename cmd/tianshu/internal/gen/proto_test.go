package gen

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/protoc"
)

// The generated .proto carries a google.api.http rule, which `tianshu gen` compiles from a
// directory holding nothing but the project's own file: annotations.proto comes from the
// descriptors linked into the binary, not from an include path.
func TestTheProtoCompilesWithItsHTTPRuleFromTheProjectAlone(t *testing.T) {
	files, err := Render(Options{Name: "orders", Module: "example.com/shop/orders"})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	proto := ProtoPath(Options{Name: "orders"})
	write(t, root, proto, string(files[proto]))
	out, err := protoc.Render(context.Background(), root, []string{proto})
	if err != nil {
		t.Fatalf("compiling the generated %s: %v", proto, err)
	}
	pb := string(out[filepath.ToSlash(strings.TrimSuffix(proto, ".proto")+".pb.go")])
	if !strings.Contains(pb, `_ "google.golang.org/genproto/googleapis/api/annotations"`) {
		t.Errorf("orders.pb.go does not import the annotations package, so the http rule is lost:\n%s", pb)
	}
	for _, route := range []string{"/v1/hello/{name}", "/v1/hello"} {
		if !strings.Contains(pb, route) {
			t.Errorf("orders.pb.go's descriptor has no route %s", route)
		}
	}
}
