package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/registry"
)

// TestTranscodeOverMutualTLS: a transcoding target whose gRPC service demands a client
// certificate is called over TLS with the one the route's tls names, at the service's
// grpcs endpoint, its certificate verified for the service's name; a route without the
// certificate cannot reach it.
func TestTranscodeOverMutualTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	data, files := inventoryDescriptors(t)
	reg := fileRegistry(t)
	inv := startInventory(t, "inv-tls", files, false, ca.grpcCreds("inventory"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Register(ctx, &registry.Instance{ID: "inv-tls", Service: "inventory",
		Endpoints: []registry.Endpoint{{Scheme: "grpcs", Host: "127.0.0.1", Port: inv.port}}}); err != nil {
		t.Fatal(err)
	}
	gwCert, gwKey := ca.issue("gateway", false)
	set := writeDescriptorSet(t, data)
	doc := fmt.Sprintf(`
gateway:
  routes:
    - name: with-cert
      match: {path: {prefix: /api/v1}}
      rewrite: {prefix: /v1}
      target: {service: inventory, transcode: {services: [%[1]s], descriptorSet: %[2]q}, tls: {caFile: %[3]q, certFile: %[4]q, keyFile: %[5]q}}
    - name: without-cert
      match: {path: {prefix: /nocert/v1}}
      rewrite: {prefix: /v1}
      target: {service: inventory, transcode: {services: [%[1]s], descriptorSet: %[2]q}, tls: {caFile: %[3]q}}
      timeout: 2s
`, inventoryService, set, ca.file, gwCert, gwKey)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg), gateway.WithLogger(quiet()))

	a := do(t, nil, "GET", base+"/api/v1/shelves/s1/items/apple", nil, "")
	var got item
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.status != 200 || got.ServedBy != "inv-tls" {
		t.Fatalf("GET through mutual TLS: %d %s (%v), want 200 served by inv-tls", a.status, a.body, err)
	}
	if a := do(t, nil, "GET", base+"/nocert/v1/shelves/s1/items/apple", nil, ""); a.status < 500 {
		t.Errorf("GET without a client certificate: %d %s, want a 5xx", a.status, a.body)
	}
}
