package announce

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
)

func TestInstance(t *testing.T) {
	base := &registry.Instance{Service: "orders", Endpoints: []registry.Endpoint{{Scheme: "admin", Host: "h", Port: 1}}}
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}

	in, err := Instance(base, lo, []string{"http", "grpc"}, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Endpoints) != 3 || in.Endpoints[0] != (registry.Endpoint{Scheme: "http", Host: "127.0.0.1", Port: 8080}) ||
		in.Endpoints[1].Scheme != "grpc" || in.Endpoints[2].Scheme != "admin" {
		t.Errorf("endpoints %v: want http and grpc on the listener, then the base's", in.Endpoints)
	}
	if !strings.HasPrefix(in.ID, "orders-") || !strings.HasSuffix(in.ID, "-8080") {
		t.Errorf("ID %q: want orders-<host>-<pid>-8080", in.ID)
	}
	if len(base.Endpoints) != 1 || base.ID != "" {
		t.Error("the base instance was changed")
	}

	in, err = Instance(base, &net.TCPAddr{IP: net.IPv4zero, Port: 1}, []string{"http"}, "svc.example", false)
	if err != nil || in.Endpoints[0].Host != "svc.example" || in.ID != "" {
		t.Errorf("advertised host, no ID wanted: %+v, %v", in, err)
	}
	if in, _ := Instance(base, &net.TCPAddr{IP: net.IPv4zero, Port: 1}, []string{"http"}, "", false); in.Endpoints[0].Host != OutboundIP() {
		t.Errorf("wildcard listener announced as %q, want %q", in.Endpoints[0].Host, OutboundIP())
	}

	if _, err := Instance(base, &net.UnixAddr{Name: "/tmp/s", Net: "unix"}, []string{"http"}, "", false); !errors.Is(err, ErrNotTCP) {
		t.Errorf("unix listener: %v, want ErrNotTCP", err)
	}
	if _, err := Instance(&registry.Instance{}, lo, []string{"http"}, "", true); !errors.Is(err, registry.ErrInvalidInstance) {
		t.Errorf("instance without a service: %v, want registry.ErrInvalidInstance", err)
	}
}
