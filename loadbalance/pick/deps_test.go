package pick

import (
	"os/exec"
	"strings"
	"testing"
)

// The algorithms must stay usable without gRPC.
func TestDoesNotImportGRPC(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Fatalf("package pick depends on %s; run: go list -deps ./loadbalance/pick | grep grpc", dep)
		}
	}
}
