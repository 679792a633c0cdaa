package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	yaml "go.yaml.in/yaml/v4"
)

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A service watches the file a link points to; set must change that file and leave the
// link a link.
func TestConfigSetThroughASymlinkWritesItsTarget(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "etc", "app.yaml")
	writeFile(t, real, "level: info\n", 0o640)
	// A chain of links, the first relative, the second absolute.
	mid := filepath.Join(dir, "mid.yaml")
	if err := os.Symlink(real, mid); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "app.yaml")
	if err := os.Symlink("mid.yaml", link); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(context.Background(), "config", "set", "level", "debug", "--source", link); code != 0 {
		t.Fatalf("set through a link: status %d: %s", code, stderr)
	}
	for _, l := range []string{link, mid} {
		if fi, err := os.Lstat(l); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is no longer a symlink (%v, %v)", l, fi.Mode(), err)
		}
	}
	if got := readFile(t, real); got != "level: debug\n" {
		t.Errorf("the link's target holds %q, want level: debug", got)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Errorf("the target's mode became %v, want 0640", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(filepath.Dir(real)); len(entries) != 1 {
		t.Errorf("the target's directory holds %d entries, want only app.yaml (no temporary or lock file left)", len(entries))
	}
}

// kubeletLayout builds what the kubelet mounts for a ConfigMap: app.yaml -> ..data/app.yaml,
// ..data -> ..<timestamp>, the real file in the timestamped directory.
func kubeletLayout(t *testing.T) (mount, real string) {
	mount = t.TempDir()
	ts := "..2026_12_07_11_19_00.123456789"
	real = filepath.Join(mount, ts, "app.yaml")
	writeFile(t, real, "level: info\n", 0o644)
	if err := os.Symlink(ts, filepath.Join(mount, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "app.yaml"), filepath.Join(mount, "app.yaml")); err != nil {
		t.Fatal(err)
	}
	return mount, real
}

func TestConfigSetRefusesFilesItMustNotWrite(t *testing.T) {
	mount, real := kubeletLayout(t)
	roDir := filepath.Join(t.TempDir(), "ro")
	writeFile(t, filepath.Join(roDir, "app.yaml"), "level: info\n", 0o644)
	if err := os.Chmod(roDir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(roDir, 0o755) })
	roFile := filepath.Join(t.TempDir(), "app.yaml")
	writeFile(t, roFile, "level: info\n", 0o444)
	roLink := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.Symlink(roFile, roLink); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, source, check string
		say                 []string
	}{
		{"a ConfigMap volume's file", filepath.Join(mount, "app.yaml"), real, []string{"ConfigMap", "kubelet", filepath.Join(mount, "app.yaml")}},
		{"a path through ..data", filepath.Join(mount, "..data", "app.yaml"), real, []string{"ConfigMap"}},
		{"the timestamped file itself", real, real, []string{"ConfigMap"}},
		{"a read-only file", roFile, roFile, []string{"read-only", roFile}},
		{"a link to a read-only file", roLink, roFile, []string{"read-only", roFile}},
		{"a file in a read-only directory", filepath.Join(roDir, "app.yaml"), filepath.Join(roDir, "app.yaml"), []string{"read-only", roDir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(context.Background(), "config", "set", "level", "debug", "--source", tt.source)
			if code != 1 {
				t.Errorf("status %d, want 1; stderr %q", code, stderr)
			}
			for _, s := range tt.say {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not say %q", stderr, s)
				}
			}
			if got := readFile(t, tt.check); got != "level: info\n" {
				t.Errorf("%s now holds %q", tt.check, got)
			}
		})
	}
	if fi, err := os.Lstat(filepath.Join(mount, "app.yaml")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the ConfigMap's link was replaced (%v)", err)
	}
}

// Each writer reads, edits and renames; without a lock, concurrent writers lose each
// other's keys while all report success.
func TestParallelConfigSetsKeepEveryKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.yaml")
	writeFile(t, path, "keys: {}\n", 0o644)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, stderr := runCLI(context.Background(), "config", "set", fmt.Sprintf("keys.k%02d", i), fmt.Sprint(i), "--source", path)
			if code != 0 {
				errs <- fmt.Sprintf("writer %d: status %d: %s", i, code, stderr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	var doc struct{ Keys map[string]int }
	if err := yaml.Unmarshal([]byte(readFile(t, path)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != n {
		t.Errorf("%d parallel sets kept %d keys: %v", n, len(doc.Keys), doc.Keys)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want only app.yaml", len(entries))
	}
}

func TestConfigSetRefusesReplacingASectionOrAddingATopLevelKeyWithoutForce(t *testing.T) {
	const orig = "server:\n  addr: \":9000\"\npayment:\n  failure_rate: 0.1\n"
	tests := []struct {
		name     string
		key, val string
		say      []string
		force    string
	}{
		{"a scalar over a mapping", "server", "5", []string{"server", "mapping", "--force"}, "server: 5\n"},
		{"a new top-level key that is a typo", "failure_rate", "2", []string{"failure_rate", "payment.failure_rate", "--force"}, "failure_rate: 2\n"},
		{"a new top-level key near an existing one", "paymnt.failure_rate", "2", []string{"payment", "--force"}, "paymnt:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.yaml")
			writeFile(t, path, orig, 0o644)
			code, _, stderr := runCLI(context.Background(), "config", "set", tt.key, tt.val, "--source", path)
			if code != 1 {
				t.Errorf("status %d, want 1; stderr %q", code, stderr)
			}
			for _, s := range tt.say {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not say %q", stderr, s)
				}
			}
			if got := readFile(t, path); got != orig {
				t.Errorf("the refused set changed the file to %q", got)
			}
			if code, _, stderr := runCLI(context.Background(), "config", "set", tt.key, tt.val, "--force", "--source", path); code != 0 {
				t.Fatalf("with --force: status %d: %s", code, stderr)
			}
			if got := readFile(t, path); !strings.Contains(got, tt.force) {
				t.Errorf("with --force the file is %q, want it to hold %q", got, tt.force)
			}
		})
	}
	// What stays allowed without --force: a new key inside an existing section, a value
	// replacing a value, and any key in an empty document.
	path := filepath.Join(t.TempDir(), "app.yaml")
	writeFile(t, path, orig, 0o644)
	for _, args := range [][]string{{"server.tls", "true"}, {"payment.failure_rate", "0.2"}, {"server", "{addr: ':9100'}"}} {
		if code, _, stderr := runCLI(context.Background(), "config", "set", args[0], args[1], "--source", path); code != 0 {
			t.Errorf("set %s %s: status %d: %s", args[0], args[1], code, stderr)
		}
	}
	if code, _, stderr := runCLI(context.Background(), "config", "set", "db.host", "x", "--source", filepath.Join(t.TempDir(), "new.yaml")); code != 0 {
		t.Errorf("set in a new file: status %d: %s", code, stderr)
	}
}

// A relative link is resolved from the directory it really lives in, as the kernel does:
// reached through a directory link, its ".." climbs from the real directory.
func TestConfigSetThroughARelativeLinkInALinkedDirectory(t *testing.T) {
	root := t.TempDir()
	real := filepath.Join(root, "a", "b", "conf.yaml")
	writeFile(t, real, "level: info\n", 0o644)
	if err := os.Symlink(filepath.Join("..", "b", "conf.yaml"), filepath.Join(root, "a", "b", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("a", "b"), filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	source := filepath.Join(root, "l", "link.yaml")
	if code, _, stderr := runCLI(context.Background(), "config", "set", "level", "debug", "--source", source); code != 0 {
		t.Fatalf("status %d: %s", code, stderr)
	}
	if got := readFile(t, real); got != "level: debug\n" {
		t.Errorf("%s holds %q, want level: debug", real, got)
	}
}
