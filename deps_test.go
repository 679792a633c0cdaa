package tianshu_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Core packages speak only to interfaces; a backend is chosen by the application. This test
// keeps a backend, or a backend's SDK, from creeping into a core package's imports.
func TestCorePackagesImportNoBackend(t *testing.T) {
	core := []string{"", "/registry", "/config", "/rpc", "/loadbalance", "/breaker", "/tracing"}
	forbidden := []string{
		"github.com/tianshu-go/tianshu/registry/",
		"github.com/tianshu-go/tianshu/config/",
		"github.com/go-zookeeper/zk",
		"github.com/nacos-group/",
		"go.etcd.io/etcd/",
	}
	for _, c := range core {
		pkg := "github.com/tianshu-go/tianshu" + c
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "cannot find package") || strings.Contains(string(out), "no required module") ||
				strings.Contains(string(out), "is not in std") || strings.Contains(string(out), "matched no packages") ||
				strings.Contains(string(out), "no Go files") {
				continue // that core package is not written yet
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("core package %s imports %s (via go list -deps); core packages must not depend on a backend", pkg, dep)
				}
			}
		}
	}
}
