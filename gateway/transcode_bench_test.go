package gateway_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tianshu-go/tianshu/gateway"
)

// BenchmarkTranscode is one GET transcoded by the gateway to a gRPC call on a loopback
// server found in the file registry, path variables to message to JSON; keep-alive
// connections on both sides, telemetry off.
func BenchmarkTranscode(b *testing.B) {
	data, files := inventoryDescriptors(b)
	reg := fileRegistry(b)
	startInventory(b, "inv-b", files, false).register(b, reg)
	_, base := newGateway(b, transcodeDoc("descriptorSet: "+writeDescriptorSet(b, data)), gateway.WithDiscovery(reg))
	url := base + "/api/v1/shelves/s1/items/apple"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
