package gen

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/protoc"
)

// repoRoot is the Tianshu checkout this test belongs to.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// copyTree copies the regular files under src to dst, without .git.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAReplacedProjectBuildsOfflineFromItsOwnDirectory generates a service against a copy of
// this checkout (--replace), deletes that copy and moves the service, as a Docker build
// context would see it, then builds it as its Dockerfile does: from vendor/, without the
// network or a module cache. The binary it builds must refuse a missing -config file and
// a registry scheme it has no backend for, naming the path and backends.go.
func TestAReplacedProjectBuildsOfflineFromItsOwnDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("tidies, vendors and builds a generated project")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	tmp := t.TempDir()
	checkout := filepath.Join(tmp, "tianshu")
	copyTree(t, repoRoot(t), checkout)

	o := Options{Name: "orders", Module: "example.com/shop/orders", Registry: "file", Replace: checkout}
	gen := filepath.Join(tmp, "gen", "orders")
	stubs := func(ctx context.Context, root string, protos []string) error {
		_, err := protoc.Generate(ctx, root, protos)
		return err
	}
	if _, err := New(ctx, gen, o, stubs); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOFLAGS", strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	if err := Tidy(ctx, gen, o); err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(gen, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "-mod=vendor") || strings.Contains(string(dockerfile), "go mod download") {
		t.Errorf("the Dockerfile of a vendored project does not build from vendor/:\n%s", dockerfile)
	}
	if ignore, _ := os.ReadFile(filepath.Join(gen, ".dockerignore")); strings.Contains(string(ignore), "vendor") {
		t.Errorf(".dockerignore leaves vendor/ out of the build context:\n%s", ignore)
	}
	// The tianshu command links every registry backend; pinned in go.mod as a tool, it put the
	// Nacos and Alibaba Cloud SDKs into go.mod, go.sum and vendor/ (35 MB against 25 MB).
	for _, f := range []string{"go.mod", "go.sum", "vendor/modules.txt"} {
		b, err := os.ReadFile(filepath.Join(gen, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, sdk := range []string{"github.com/nacos-group/", "github.com/aliyun/", "github.com/alibabacloud-go/"} {
			if strings.Contains(string(b), sdk) {
				t.Errorf("%s of a service on the file registry names %s modules; the tianshu tool belongs in tools/go.mod", f, sdk)
			}
		}
	}
	// `make gen` builds the pinned command from tools/ and regenerates the stubs.
	for _, f := range []string{"orders.pb.go", "orders_grpc.pb.go"} {
		if err := os.Remove(filepath.Join(gen, "orderspb", f)); err != nil {
			t.Fatal(err)
		}
	}
	regen := exec.CommandContext(ctx, "make", "gen")
	if _, err := exec.LookPath("make"); err != nil {
		regen = exec.CommandContext(ctx, "go", "tool", "-C", "tools", "tianshu", "gen", "--dir", "..")
	}
	regen.Dir = gen
	if out, err := regen.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(regen.Args, " "), err, out)
	}
	for _, f := range []string{"orders.pb.go", "orders_grpc.pb.go"} {
		if _, err := os.Stat(filepath.Join(gen, "orderspb", f)); err != nil {
			t.Errorf("make gen did not write orderspb/%s: %v", f, err)
		}
	}
	// Two pins can drift apart: make gen refuses a tools/go.mod that names another Tianshu
	// (the replace directive still points both at the checkout).
	if _, err := exec.LookPath("make"); err == nil {
		toolsMod := filepath.Join(gen, "tools", "go.mod")
		b, err := os.ReadFile(toolsMod)
		if err != nil {
			t.Fatal(err)
		}
		drifted := strings.Replace(string(b), "github.com/tianshu-go/tianshu "+UnreleasedVersion, "github.com/tianshu-go/tianshu v0.0.1", 1)
		if drifted == string(b) {
			t.Fatalf("tools/go.mod does not require Tianshu %s:\n%s", UnreleasedVersion, b)
		}
		if err := os.WriteFile(toolsMod, []byte(drifted), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, "make", "gen")
		cmd.Dir = gen
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "go get -tool github.com/tianshu-go/tianshu/cmd/tianshu@"+UnreleasedVersion) {
			t.Errorf("make gen with tools/go.mod pinning another Tianshu than go.mod: %v\n%s\nwant a refusal with the go get -tool line", err, out)
		}
		if err := os.WriteFile(toolsMod, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if err := os.RemoveAll(checkout); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(tmp, "context", "src")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(gen, src); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOFLAGS=-mod=vendor -modcacherw", "GOPROXY=off", "GOWORK=off",
		"GOMODCACHE="+filepath.Join(tmp, "empty-modcache"))
	goRun := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = src, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s with GOFLAGS=-mod=vendor GOPROXY=off and an empty module cache: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	bin := filepath.Join(tmp, "bin", "orders")
	// -trimpath as in the Dockerfile; it also keeps the build cache independent of the
	// temporary directory, so that a second run does not compile vendor/ again.
	start := time.Now()
	goRun("build", "-trimpath", "-o", bin, ".")
	goRun("vet", "./...")
	t.Logf("built and vetted from vendor/ in %v", time.Since(start).Round(time.Second))

	service := func(args ...string) (string, error) {
		// A binary that ignores the error serves until killed: bound it.
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "ORDERS_SERVER__ADDR=127.0.0.1:0", "ORDERS_HTTP__ADDR=127.0.0.1:0",
			"ORDERS_ADMIN__ADDR=127.0.0.1:0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	missing := filepath.Join(tmp, "no-such-config.yaml")
	if out, err := service("-config", missing); err == nil || !strings.Contains(out, missing) {
		t.Errorf("-config naming a missing file: %v\n%s\nwant a failure naming %s", err, out, missing)
	}
	etcdConfig := filepath.Join(tmp, "etcd.yaml")
	if err := os.WriteFile(etcdConfig, []byte("registry:\n  url: etcd://127.0.0.1:2379/tianshu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := service("-config", etcdConfig); err == nil || !strings.Contains(out, "backends.go") ||
		!strings.Contains(out, "registry/etcd") {
		t.Errorf("an etcd:// registry in a binary with only the file backend: %v\n%s\nwant a failure pointing at backends.go", err, out)
	}
}
