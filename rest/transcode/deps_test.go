package transcode_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// TestServingLinksNoGatewayOrPlugin: grpc-gateway is the tests' reference, not a part of
// the transcoder, so a program that imports this package links neither it nor another
// transcoder.
func TestServingLinksNoGatewayOrPlugin(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command")
	}
	out, err := exec.Command(goBin, "list", "-deps", "github.com/tianshu-go/tianshu/rest/transcode").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, bad := range []string{"github.com/grpc-ecosystem/grpc-gateway", "connectrpc.com/"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("rest/transcode depends on %s", dep)
			}
		}
	}
}
