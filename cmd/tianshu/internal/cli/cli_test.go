package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer collects output written from other goroutines.
type syncBuffer = testenv.Buffer

// runCLI runs one command line and returns its exit status, stdout and stderr.
func runCLI(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut syncBuffer
	c := &CLI{Stdout: &out, Stderr: &errOut}
	code := c.Main(ctx, args)
	return code, out.String(), errOut.String()
}

func TestCommandLineMistakesGetTheUsageAndStatus2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		say  string
		help string // the usage printed: the general one, or the command's
	}{
		{"no command at all", nil, "no command", "tianshu new <name>"},
		{"an unknown command", []string{"deploy"}, `unknown command "deploy"`, "tianshu new <name>"},
		{"new without a name", []string{"new"}, "new takes <name>", "usage: tianshu new <name> [flags]"},
		{"an unknown flag", []string{"new", "orders", "--colour"}, "colour", "-no-tidy"},
		{"registry without a subcommand", []string{"registry"}, "ls or watch", "tianshu registry watch <service>"},
		{"config set without a value", []string{"config", "set", "a.b", "--source", "x.yaml"}, "<key> <value>", "-force"},
		{"config get without a source", []string{"config", "get", "a.b"}, "--source", "tianshu config get <key>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(context.Background(), tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.say) || !strings.Contains(stderr, tt.help) {
				t.Fatalf("status %d, stderr:\n%s\nwant status 2, %q and the usage with %q", code, stderr, tt.say, tt.help)
			}
		})
	}
}

func TestNewExplainsWhatIsWrongAndWritesNothing(t *testing.T) {
	busy := t.TempDir()
	if err := os.WriteFile(filepath.Join(busy, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		say  string
	}{
		{"an invalid service name", []string{"new", "Orders_Svc", "--replace", "."}, "lower-case letters, digits and single hyphens"},
		{"an invalid module path", []string{"new", "orders", "--module", "example.com//orders", "--replace", "."}, "invalid module path"},
		{"a non-empty target directory", []string{"new", "orders", "--dir", busy, "--tianshu-version", "v0.1.0"}, "already holds main.go"},
		{"a registry this binary lacks", []string{"new", "orders", "--registry", "nacos"}, "has no nacos registry backend"},
		{"a replace directory that is no checkout", []string{"new", "orders", "--replace", busy}, "not a Tianshu checkout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(context.Background(), tt.args...)
			if code != 1 || !strings.Contains(stderr, tt.say) {
				t.Fatalf("status %d, stderr:\n%s\nwant status 1 and %q", code, stderr, tt.say)
			}
		})
	}
	if entries, _ := os.ReadDir(busy); len(entries) != 1 {
		t.Errorf("the non-empty directory now has %d entries", len(entries))
	}
}

func register(t *testing.T, dir string, in *registry.Instance) {
	t.Helper()
	reg, err := file.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	if err := reg.Register(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryLsPrintsATableAndJSON(t *testing.T) {
	dir := t.TempDir()
	register(t, dir, &registry.Instance{
		ID: "orders-1", Service: "orders", Version: "v1.2.0", Zone: "az1",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}},
		Metadata:  map[string]string{"tag": "canary"},
	})
	url := "file://" + dir

	code, out, stderr := runCLI(context.Background(), "registry", "ls", "orders", "--registry", url)
	if code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	for _, want := range []string{"ID", "ENDPOINTS", "orders-1", "v1.2.0", "grpc://127.0.0.1:9000", "100", "az1", "tag=canary"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}

	code, out, stderr = runCLI(context.Background(), "registry", "ls", "--json", "orders", "--registry", url)
	if code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	var list []registry.Instance
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].ID != "orders-1" {
		t.Fatalf("--json printed %q (%v), want one instance orders-1", out, err)
	}

	code, out, _ = runCLI(context.Background(), "registry", "ls", "nobody", "--registry", url, "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("ls of an unknown service: status %d, %q; want 0 and []", code, out)
	}
}

func TestRegistryWatchPrintsEachChangeUntilInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- (&CLI{Stdout: &out, Stderr: &errOut}).Main(ctx, []string{"registry", "watch", "orders", "--registry", "file://" + dir + "?poll=50ms"})
	}()
	waitFor(t, &out, "orders: 0 instance(s)")
	register(t, dir, &registry.Instance{ID: "orders-7", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9007}}})
	waitFor(t, &out, "orders-7")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("watch ended with status %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not end within 30s of its context")
	}
}

// waitFor waits, generously for a loaded machine, until out contains s.
func waitFor(t *testing.T, out *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 30s in:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfigGetSetOnAYAMLFileKeepsItsComments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(path, []byte("# the service\nserver:\n  addr: \":9000\" # gRPC\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"get reads a scalar", []string{"config", "get", "server.addr", "--source", path}, 0, ":9000\n", ""},
		{"set adds a new section only with --force", []string{"config", "set", "db.pool.size", "8", "--force", "--source", path}, 0, "", ""},
		{"get reads it as a number in JSON", []string{"config", "get", "db.pool.size", "--json", "--source", path}, 0, "8\n", ""},
		{"set replaces a value, matching keys as services do", []string{"config", "set", "Server.Addr", ":9100", "--source", "file://" + path}, 0, "", ""},
		{"get reads a section as JSON", []string{"config", "get", "server", "--json", "--source", path}, 0, "{\"addr\":\":9100\"}\n", ""},
		{"a missing key is an error", []string{"config", "get", "db.user", "--source", path}, 1, "", "key not set"},
		{"a missing file is an error naming it", []string{"config", "get", "a", "--source", path + ".missing"}, 1, "", "app.yaml.missing"},
		{"set refuses to go below a scalar", []string{"config", "set", "server.addr.port", "1", "--source", path}, 1, "", "server.addr is not a mapping"},
		{"set refuses a TOML file", []string{"config", "set", "a", "1", "--source", filepath.Join(filepath.Dir(path), "app.toml")}, 1, "", ".yaml, .yml and .json"},
	}
	for _, s := range steps {
		code, out, stderr := runCLI(ctx, s.args...)
		if code != s.code || (s.stdout != "" && out != s.stdout) || !strings.Contains(stderr, s.stderr) {
			t.Fatalf("%s: status %d, stdout %q, stderr %q; want %d, %q, %q", s.name, code, out, stderr, s.code, s.stdout, s.stderr)
		}
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# gRPC") || !strings.Contains(string(b), "# the service") {
		t.Errorf("set lost the file's comments:\n%s", b)
	}
}

func TestConfigSetEditsJSONFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(path, []byte(`{"server": {"addr": ":9000"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(context.Background(), "config", "set", "server.tls", "true", "--source", path); code != 0 {
		t.Fatalf("set: %s", stderr)
	}
	var got map[string]map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &got); err != nil || got["server"]["tls"] != true || got["server"]["addr"] != ":9000" {
		t.Fatalf("after set the file is %s (%v)", b, err)
	}
}

func TestConfigWatchPrintsTheValueAndEachChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(path, []byte("level: info\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- (&CLI{Stdout: &out, Stderr: &errOut}).Main(ctx, []string{"config", "watch", "level", "--source", path})
	}()
	waitFor(t, &out, "level = info")
	if code, _, stderr := runCLI(context.Background(), "config", "set", "level", "debug", "--source", path); code != 0 {
		t.Fatal(stderr)
	}
	waitFor(t, &out, "level = debug")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("watch ended with status %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not end within 30s of its context")
	}
}

func TestAnUnknownConfigSchemeListsTheKnownOnes(t *testing.T) {
	code, _, stderr := runCLI(context.Background(), "config", "get", "a", "--source", "consul://127.0.0.1:8500/a")
	if code != 1 || !strings.Contains(stderr, "no config source for consul://") || !strings.Contains(stderr, "file") {
		t.Fatalf("status %d, stderr %q", code, stderr)
	}
}

func TestRegistryLsWithoutAServiceListsTheServices(t *testing.T) {
	dir := t.TempDir()
	for _, in := range []*registry.Instance{
		{ID: "orders-1", Service: "orders", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9001}}},
		{ID: "orders-2", Service: "orders", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9002}}},
		{ID: "payment-1", Service: "payment", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9003}}},
	} {
		register(t, dir, in)
	}
	url := "file://" + dir
	code, out, stderr := runCLI(context.Background(), "registry", "ls", "--registry", url)
	if code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	want := "SERVICE  INSTANCES\norders   2\npayment  1\n"
	if out != want {
		t.Errorf("registry ls printed\n%s\nwant\n%s", out, want)
	}
	code, out, stderr = runCLI(context.Background(), "registry", "ls", "--json", "--registry", url)
	if code != 0 || strings.TrimSpace(out) != `[{"service":"orders","instances":2},{"service":"payment","instances":1}]` {
		t.Errorf("registry ls --json: status %d, %q %s", code, out, stderr)
	}
}
