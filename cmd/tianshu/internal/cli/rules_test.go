package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// canaryRules is a rules document as an operator writes it, with a comment set must keep.
const canaryRules = `# 10% of the calls tagged by header go to v2
rules:
  services:
    orders:
      routes:
        - match: {header: x-canary, value: "true"}
          to:
            - {version: v2, weight: 10}
            - {version: v1, weight: 90}
      methods:
        /shop.Orders/PlaceOrder: {timeout: 500ms}
`

func TestRulesValidateChecksADocumentOffline(t *testing.T) {
	dir := t.TempDir()
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, data, 0o644)
		return p
	}
	tests := []struct {
		name, path string
		code       int
		say        []string // in stdout when code is 0, else in stderr
	}{
		{"a valid document", file("good.yaml", canaryRules), 0, []string{"good.yaml: valid rules for 1 service(s)"}},
		{"a JSON document", file("good.json", `{"rules": {"defaults": {"methods": {"*": {"timeout": "2s"}}}}}`), 0, []string{"valid rules for 0 service(s)"}},
		{"a negative weight", file("weight.yaml", strings.Replace(canaryRules, "weight: 10}", "weight: -3}", 1)), 1,
			[]string{"weight.yaml", `key "rules": validation failed`, "services.orders.routes[0].to[0]: weight -3: want 0 or more"}},
		{"a syntax error", file("syntax.yaml", "rules:\n  services: ]\n"), 1, []string{"syntax.yaml:2:"}},
		{"a misspelt key", file("typo.yaml", strings.Replace(canaryRules, "routes:", "route:", 1)), 1,
			[]string{`unknown key "rules.services.orders.route" (did you mean "rules.services.orders.routes"?)`}},
		{"a duration without a unit", file("unit.yaml", strings.Replace(canaryRules, "500ms", "500", 1)), 1, []string{"a number needs a unit"}},
		{"a document without rules", file("app.yaml", "db: {host: x}\n"), 1, []string{"no rules in", "app.yaml", "docs/rules.md"}},
		{"a missing file", filepath.Join(dir, "missing.yaml"), 1, []string{"missing.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(context.Background(), "rules", "validate", tt.path)
			where := out
			if tt.code != 0 {
				where = stderr
			}
			if code != tt.code {
				t.Errorf("status %d, want %d (stdout %q, stderr %q)", code, tt.code, out, stderr)
			}
			for _, s := range tt.say {
				if !strings.Contains(where, s) {
					t.Errorf("output %q does not say %q", where, s)
				}
			}
		})
	}
}

func TestRulesSetWritesOnlyAValidDocumentAndGetReadsItBack(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "app.yaml")
	const app = "# the service\nserver: {addr: \":9000\"}\nrules:\n  services: {}\n"
	writeFile(t, target, app, 0o640)
	good := filepath.Join(dir, "canary.yaml")
	writeFile(t, good, canaryRules, 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, strings.Replace(canaryRules, "500ms", "-1s", 1), 0o644)
	ctx := context.Background()

	code, _, stderr := runCLI(ctx, "rules", "set", bad, "--source", target)
	if code != 1 || !strings.Contains(stderr, `services.orders.methods["/shop.Orders/PlaceOrder"]: timeout -1s: want 0 or more`) ||
		!strings.Contains(stderr, "was not changed") {
		t.Fatalf("set of an invalid document: status %d, stderr %q; want 1 and the place at fault", code, stderr)
	}
	if got := readFile(t, target); got != app {
		t.Fatalf("the refused set changed the target to:\n%s", got)
	}

	if code, _, stderr := runCLI(ctx, "rules", "set", good, "--source", target); code != 0 {
		t.Fatalf("set: status %d: %s", code, stderr)
	}
	got := readFile(t, target)
	for _, s := range []string{"# the service", "server:", "x-canary", "500ms"} {
		if !strings.Contains(got, s) {
			t.Errorf("after set the target lacks %q:\n%s", s, got)
		}
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
		t.Errorf("set changed the target's mode to %v", fi.Mode().Perm())
	}

	code, out, stderr := runCLI(ctx, "rules", "get", "--source", target)
	if code != 0 || !strings.HasPrefix(out, "rules:\n") || !strings.Contains(out, "x-canary") || strings.Contains(out, "server") {
		t.Fatalf("get: status %d, stdout:\n%s\nstderr %q", code, out, stderr)
	}
	// What get prints is a document validate and set take back.
	back := filepath.Join(dir, "back.yaml")
	writeFile(t, back, out, 0o644)
	if code, _, stderr := runCLI(ctx, "rules", "validate", back); code != 0 {
		t.Fatalf("validate of get's output: %s", stderr)
	}
	code, out, _ = runCLI(ctx, "rules", "get", "--json", "--source", target)
	if code != 0 || !strings.HasPrefix(out, `{"rules":{"services":{"orders":`) {
		t.Errorf("get --json printed %q", out)
	}
}

func TestRulesGetOfAnInvalidSourceSaysConsumersKeepTheirRules(t *testing.T) {
	target := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, target, strings.Replace(canaryRules, "weight: 90", "weight: -90", 1), 0o644)
	code, out, stderr := runCLI(context.Background(), "rules", "get", "--source", target)
	if code != 1 || out != "" || !strings.Contains(stderr, "keeps the last good rules") || !strings.Contains(stderr, "to[1]: weight -90") {
		t.Fatalf("status %d, stdout %q, stderr %q", code, out, stderr)
	}
	empty := filepath.Join(t.TempDir(), "app.yaml")
	writeFile(t, empty, "db: {host: x}\n", 0o644)
	if code, out, _ := runCLI(context.Background(), "rules", "get", "--source", empty); code != 0 || out != "rules: {}\n" {
		t.Errorf("get of a document without rules: status %d, %q; want rules: {}", code, out)
	}
}

func TestRulesSetHasConfigSetsGuards(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "canary.yaml")
	writeFile(t, good, canaryRules, 0o644)
	mount, real := kubeletLayout(t)
	roFile := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, roFile, "rules: {}\n", 0o444)
	noRules := filepath.Join(t.TempDir(), "app.yaml")
	writeFile(t, noRules, "server: {addr: \":9000\"}\n", 0o644)

	for _, tt := range []struct {
		name, source, check, was string
		say                      []string
	}{
		{"a ConfigMap volume's file", filepath.Join(mount, "app.yaml"), real, "level: info\n", []string{"ConfigMap", "kubectl edit configmap"}},
		{"a read-only file", roFile, roFile, "rules: {}\n", []string{"read-only", "chmod u+w"}},
		{"a document with other keys and no rules", noRules, noRules, "server: {addr: \":9000\"}\n", []string{"refused without --force", `no top-level key "rules"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(context.Background(), "rules", "set", good, "--source", tt.source)
			if code != 1 {
				t.Errorf("status %d, want 1; stderr %q", code, stderr)
			}
			for _, s := range tt.say {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr %q does not say %q", stderr, s)
				}
			}
			if got := readFile(t, tt.check); got != tt.was {
				t.Errorf("%s now holds %q", tt.check, got)
			}
		})
	}
	if code, _, stderr := runCLI(context.Background(), "rules", "set", good, "--force", "--source", noRules); code != 0 || !strings.Contains(readFile(t, noRules), "x-canary") {
		t.Errorf("set --force: status %d, %s; file:\n%s", code, stderr, readFile(t, noRules))
	}
}

func TestRulesWatchPrintsEachChangeAndEachRejectionOnce(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "rules.yaml")
	writeFile(t, target, docWithTimeout("1s"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- (&CLI{Stdout: &out, Stderr: &errOut}).Main(ctx, []string{"rules", "watch", "--source", target})
	}()
	waitFor(t, &out, "timeout: 1s")
	replace := func(data string) { // as an editor does: a new file renamed over the old
		t.Helper()
		writeFile(t, target+".new", data, 0o644)
		if err := os.Rename(target+".new", target); err != nil {
			t.Fatal(err)
		}
	}
	replace(docWithTimeout("-2s"))
	waitFor(t, &errOut, "timeout -2s: want 0 or more")
	replace(docWithTimeout("-2s") + "\n")
	// The same mistake written again: read within the watcher's 20 ms debounce, and it must
	// not be printed again. The pause keeps it from merging with the next write.
	time.Sleep(500 * time.Millisecond)
	replace(docWithTimeout("3s"))
	waitFor(t, &out, "timeout: 3s")
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("watch ended with status %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not end within 30s of its context")
	}
	if n := strings.Count(errOut.String(), "change rejected"); n != 1 {
		t.Errorf("the rejected change was printed %d times, want once:\n%s", n, errOut.String())
	}
	if n := strings.Count(out.String(), "rules in force"); n != 2 {
		t.Errorf("printed the rules %d times, want 2 (the first and the one good change):\n%s", n, out.String())
	}
}

func docWithTimeout(d string) string {
	return "rules:\n  services:\n    orders:\n      methods:\n        \"*\": {timeout: " + d + "}\n"
}

func TestRulesCommandLineMistakes(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"no subcommand", []string{"rules"}, 2, "validate, get, set or watch"},
		{"an unknown subcommand", []string{"rules", "apply"}, 2, `unknown rules subcommand "apply"`},
		{"get without a source", []string{"rules", "get"}, 2, "rules get needs --source"},
		{"set without a file", []string{"rules", "set", "--source", "x.yaml"}, 2, "rules set takes <file>"},
		{"validate without a file", []string{"rules", "validate"}, 2, "rules validate takes <file>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(context.Background(), tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.say) || !strings.Contains(stderr, "usage: tianshu rules validate <file>") {
				t.Errorf("status %d, stderr:\n%s\nwant %d, %q and the rules usage", code, stderr, tt.code, tt.say)
			}
		})
	}
	code, out, _ := runCLI(context.Background(), "help", "rules")
	if code != 0 || !strings.Contains(out, "tianshu rules set <file> --source S") || !strings.Contains(out, "-force") {
		t.Errorf("help rules: status %d:\n%s", code, out)
	}
}
