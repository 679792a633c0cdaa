package gateway_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/etcd"
)

// TestTranscodeThroughEtcd finds the service in a real etcd registry and its descriptors
// by reflection, and follows a second instance replacing the first.
func TestTranscodeThroughEtcd(t *testing.T) {
	srv := testenv.StartEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reg, err := etcd.New(ctx, []string{srv.Endpoint}, etcd.WithTTL(5*time.Second), etcd.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	_, files := inventoryDescriptors(t)
	first := startInventory(t, "inv-etcd-1", files, true)
	in := first.register(t, reg)
	_, base := newGateway(t, transcodeDoc("reflection: true"), gateway.WithDiscovery(reg), gateway.WithLogger(quiet()))
	url := base + "/api/v1/shelves/s1/items/apple"
	waitFor(t, "the first instance answers", func() bool {
		a := do(t, nil, "GET", url, nil, "")
		return a.status == 200 && strings.Contains(a.body, "inv-etcd-1")
	})

	second := startInventory(t, "inv-etcd-2", files, true)
	second.register(t, reg)
	if err := reg.Deregister(ctx, in); err != nil {
		t.Fatal(err)
	}
	first.close()
	waitFor(t, "the second instance answers alone", func() bool {
		a := do(t, nil, "GET", url, nil, "")
		return a.status == 200 && strings.Contains(a.body, "inv-etcd-2")
	})
	for range 5 {
		if a := do(t, nil, "GET", url, nil, ""); a.status != 200 || !strings.Contains(a.body, "inv-etcd-2") {
			t.Fatalf("after the first instance left: %d %s", a.status, a.body)
		}
	}
}
