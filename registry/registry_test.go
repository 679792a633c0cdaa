package registry_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

func TestOpenOfAnUnknownSchemeNamesTheFix(t *testing.T) {
	_, err := registry.Open(context.Background(), "nosuch://127.0.0.1:1/x")
	if !errors.Is(err, registry.ErrUnknownScheme) || !strings.Contains(err.Error(), "import the backend package") {
		t.Fatalf("Open(nosuch://) = %v, want ErrUnknownScheme naming the fix", err)
	}
}

func TestOpenUsesTheRegisteredScheme(t *testing.T) {
	// The scheme table lives as long as the process: a scheme of its own per run keeps
	// -count=N from registering one twice.
	scheme := fmt.Sprintf("regtest%d", schemeRuns.Add(1))
	registry.RegisterScheme(scheme, func(ctx context.Context, u *url.URL) (registry.Registry, error) {
		return memory.New(), nil
	})
	r, err := registry.Open(context.Background(), scheme+"://")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	defer func() {
		if recover() == nil {
			t.Error("registering a scheme twice did not panic")
		}
	}()
	registry.RegisterScheme(scheme, func(context.Context, *url.URL) (registry.Registry, error) { return nil, nil })
}

var schemeRuns atomic.Int64

func TestEndpointsRoundTripThroughTheirTextForm(t *testing.T) {
	for _, s := range []string{"grpc://127.0.0.1:9000", "http://[::1]:8080", "tri://host.example:50051"} {
		e, err := registry.ParseEndpoint(s)
		if err != nil || e.String() != s {
			t.Errorf("ParseEndpoint(%q) = %v, %v; want it back", s, e, err)
		}
	}
	for _, s := range []string{"", "grpc://host", "grpc://host:0", "grpc://host:1/path", "://h:1", "grpc://:80"} {
		if _, err := registry.ParseEndpoint(s); !errors.Is(err, registry.ErrInvalidInstance) {
			t.Errorf("ParseEndpoint(%q) = %v, want ErrInvalidInstance", s, err)
		}
	}
	// Schemes that could not be written and read back are refused where instances are
	// checked, so that no backend stores an endpoint its consumers cannot parse (found by
	// FuzzFromNacos: a Dubbo entry with protocol "0").
	for _, scheme := range []string{"0", "1grpc", "GRPC", "g_rpc", "g rpc", "g:rpc"} {
		e := registry.Endpoint{Scheme: scheme, Host: "10.0.0.1", Port: 9000}
		if err := e.Validate(); !errors.Is(err, registry.ErrInvalidInstance) {
			t.Errorf("Endpoint{Scheme: %q}.Validate() = %v, want ErrInvalidInstance", scheme, err)
		}
	}
	for _, scheme := range []string{"grpc", "grpcs", "tri", "h2c", "svc+grpc", "a.b-c"} {
		if err := (registry.Endpoint{Scheme: scheme, Host: "10.0.0.1", Port: 9000}).Validate(); err != nil {
			t.Errorf("Endpoint{Scheme: %q}.Validate() = %v, want nil", scheme, err)
		}
	}
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"grpc://127.0.0.1:9000", "http://[::1]:8080", "x://h:65535", "grpc://h:1?q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := registry.ParseEndpoint(s)
		if err != nil {
			return
		}
		back, err := registry.ParseEndpoint(e.String())
		if err != nil || back != e {
			t.Fatalf("ParseEndpoint(%q) = %v, but its String %q parses to %v, %v", s, e, e.String(), back, err)
		}
	})
}

// nilBackend stands for a backend whose constructor failed: its opener returns the nil
// pointer it got together with the error, as "return New(ctx, ...)" does.
type nilBackend struct{ registry.Registry }

func TestOpenReturnsANilRegistryWithAnError(t *testing.T) {
	scheme := fmt.Sprintf("regtest%d", schemeRuns.Add(1))
	failed := errors.New("constructor failed")
	registry.RegisterScheme(scheme, func(ctx context.Context, u *url.URL) (registry.Registry, error) {
		var r *nilBackend
		return r, failed
	})
	r, err := registry.Open(context.Background(), scheme+"://")
	if !errors.Is(err, failed) {
		t.Fatalf("Open = %v, want the backend's error", err)
	}
	if r != nil {
		t.Fatalf("Open returned the registry %#v with its error; a caller's `if r != nil { r.Close() }` would panic", r)
	}
}
