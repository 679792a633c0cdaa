package rpc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/rpc"
)

// FuzzParseTarget feeds ParseTarget what users and config files write as targets: it must
// never panic, must fail only with ErrInvalidTarget, and a service it accepts must round-trip.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"tianshu:///orders", "tianshu:///", "tianshu://host/orders", "tianshu:///a/b", "tianshu:///orders?x=1",
		"tianshu:///orders#frag", "dns:///orders", "orders", "tianshu:///%2e%2e", "tianshu:///or%20ders", "TIANSHU:///orders",
		"tianshu://user@/orders", "tianshu:///" + strings.Repeat("a", 300), "tianshu:////orders", "tianshu:///\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		svc, err := rpc.ParseTarget(target)
		if err != nil {
			if !errors.Is(err, rpc.ErrInvalidTarget) {
				t.Fatalf("ParseTarget(%q) = %v, want an error wrapping ErrInvalidTarget", target, err)
			}
			return
		}
		if svc == "" {
			t.Fatalf("ParseTarget(%q) accepted an empty service", target)
		}
		again, err := rpc.ParseTarget("tianshu:///" + svc)
		if err != nil || again != svc {
			t.Fatalf("ParseTarget(%q) = %q, but tianshu:///%s parses as %q, %v", target, svc, svc, again, err)
		}
	})
}
