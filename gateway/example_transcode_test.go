package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

// A route whose target transcodes serves a gRPC service of the registry as REST/JSON, by
// the google.api.http rules of its methods. The service here has no generated Go code
// (the example compiles testdata/inventory.proto when it runs), so its descriptors come
// from a descriptor set file, as protoc --descriptor_set_out --include_imports writes one;
// a program that imports the generated package leaves descriptorSet out, and
// reflection: true asks the service's instances instead.
func Example_transcode() {
	data, files, err := compileInventory()
	if err != nil {
		panic(err)
	}
	inv, err := serveInventory("inventory-1", files, false) // a gRPC server of the service
	if err != nil {
		panic(err)
	}
	defer inv.close()
	reg := memory.New()
	defer reg.Close()
	err = reg.Register(context.Background(), &registry.Instance{ID: "inventory-1", Service: "inventory",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: inv.port}}})
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "transcode-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	set := filepath.Join(dir, "inventory.pb")
	if err := os.WriteFile(set, data, 0o644); err != nil {
		panic(err)
	}

	c, err := gateway.Parse([]byte(fmt.Sprintf(`
gateway:
  routes:
    - name: inventory
      match: {path: {prefix: /v1/shelves}}
      target:
        service: inventory
        transcode: {services: [tianshu.gateway.test.Inventory], descriptorSet: %q}
`, set)))
	if err != nil {
		panic(err)
	}
	g, err := gateway.New(gateway.WithDiscovery(reg), gateway.WithoutTelemetry())
	if err != nil {
		panic(err)
	}
	defer g.Close()
	if err := g.Apply(c); err != nil {
		panic(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()

	for _, path := range []string{"/v1/shelves/s1/items/apple", "/v1/shelves/s1/items/missing"} {
		resp, err := http.Get(front.URL + path)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out bytes.Buffer
		_ = json.Compact(&out, b) // protojson varies its spacing on purpose
		fmt.Printf("%d %s\n", resp.StatusCode, out.String())
	}
	// Output:
	// 200 {"shelf":"s1","sku":"apple","name":"item apple","count":7,"servedBy":"inventory-1"}
	// 404 {"code":"NOT_FOUND","message":"no item missing on shelf s1","details":[]}
}
