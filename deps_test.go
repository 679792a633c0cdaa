package tianshu_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Core packages speak only to interfaces; a backend is chosen by the application. This test
// keeps a backend, or a backend's SDK, from creeping into a core package's imports.
func TestCorePackagesImportNoBackend(t *testing.T) {
	core := []string{"", "/registry", "/config", "/rpc", "/loadbalance", "/breaker", "/tracing", "/telemetry", "/rest", "/rules", "/gateway"}
	forbidden := []string{
		"github.com/tianshu-go/tianshu/registry/",
		// config/file, config/env, config/flags and the remote sources (config/zookeeper,
		// config/etcd, config/nacos): the core config package imports no source.
		"github.com/tianshu-go/tianshu/config/",
		// The connection code the registry and config packages of a backend share.
		"github.com/tianshu-go/tianshu/internal/zkconn",
		"github.com/tianshu-go/tianshu/internal/etcdconn",
		"github.com/tianshu-go/tianshu/internal/nacosconn",
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

// The call path instruments calls through OpenTelemetry's API only. The SDK and the
// exporters (OTLP, Prometheus) are set up by main, through tracing and metrics; a package
// every service imports must not link them, or each user of rpc pays for two OTLP exporters
// it may never use.
func TestCallPathLinksNoTelemetrySDKOrExporter(t *testing.T) {
	callPath := []string{"/rpc", "/telemetry"}
	forbidden := []string{
		"go.opentelemetry.io/otel/sdk",
		"go.opentelemetry.io/otel/exporters/",
		"github.com/prometheus/",
		"github.com/tianshu-go/tianshu/tracing",
		"github.com/tianshu-go/tianshu/metrics",
	}
	for _, c := range callPath {
		pkg := "github.com/tianshu-go/tianshu" + c
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("%s depends on %s (via go list -deps); instrument with package telemetry (OpenTelemetry's API) and leave the SDK and exporters to main", pkg, dep)
				}
			}
		}
	}
}

// Every package with tests checks, in its TestMain (goleak.VerifyTestMain, or goleak.Find
// after m.Run where servers outlive the tests), that its tests leave no goroutine
// behind; a package that forgets would hide a leak in the code it tests.
func TestEveryTestedPackageChecksForGoroutineLeaks(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .TestGoFiles \" \"}} {{join .XTestGoFiles \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 3 || strings.TrimSpace(f[2]) == "" {
			continue
		}
		found := false
		for _, name := range strings.Fields(f[2]) {
			b, err := os.ReadFile(filepath.Join(f[1], name))
			if err == nil && (strings.Contains(string(b), "goleak.VerifyTestMain") || strings.Contains(string(b), "goleak.Find(")) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s has tests but its TestMain does not check for leaks with goleak", f[0])
		}
	}
}
