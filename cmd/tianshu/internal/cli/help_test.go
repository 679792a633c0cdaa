package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every point of the help and error messages a user meets, as argv -> status and text.
func TestHelpAndErrorsSayTheRightThing(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings of stdout
		stderr   []string // substrings of stderr
		notInAll []string // in neither stdout nor stderr
	}{
		{"--version prints the version", []string{"--version"}, 0, []string{"tianshu "}, nil, []string{"unknown"}},
		{"version still does", []string{"version"}, 0, []string{"tianshu "}, nil, nil},
		{"registry -h is the registry's help", []string{"registry", "-h"}, 0, []string{"tianshu registry ls", "tianshu registry watch", "-timeout"}, nil, []string{"unknown"}},
		{"config -h is the config's help", []string{"config", "-h"}, 0, []string{"tianshu config set", "-source", "YAML"}, nil, []string{"unknown"}},
		{"config set -h says values are YAML", []string{"config", "set", "-h"}, 0, []string{"parses the value as YAML", "-force"}, nil, nil},
		{"help new is new's help", []string{"help", "new"}, 0, []string{"usage: tianshu new <name>", "-no-tidy", "-replace"}, nil, []string{"tianshu registry watch"}},
		{"help registry is the registry's help", []string{"help", "registry"}, 0, []string{"tianshu registry ls"}, nil, []string{"tianshu new <name>"}},
		{"help of no command", []string{"help", "deploy"}, 2, nil, []string{`"deploy"`}, nil},
		{"new's errors do not speak of gen", []string{"new", "Orders_Svc", "--replace", "."}, 1, nil, []string{"invalid service name"}, []string{"gen:"}},
		{"gen's errors do not speak of protoc", []string{"gen", "--dir", empty}, 1, nil, []string{"no .proto files"}, []string{"protoc:"}},
		{"a bad service name is a bad name, not an instance", []string{"registry", "ls", "Bad Name", "--registry", "file://" + empty}, 2, nil, []string{`invalid service name`, `' '`}, []string{"invalid instance"}},
		{"file://relative asks for an absolute path", []string{"registry", "ls", "orders", "--registry", "file://relative"}, 2, nil, []string{"file:///", "absolute"}, []string{"unreachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(context.Background(), tt.args...)
			if code != tt.code {
				t.Errorf("status %d, want %d", code, tt.code)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q", s)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q", s)
				}
			}
			for _, s := range tt.notInAll {
				if strings.Contains(out+stderr, s) {
					t.Errorf("the output says %q", s)
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr)
			}
		})
	}
}

// flagEntries splits flag.PrintDefaults output into one entry per flag, by name.
func flagEntries(help string) map[string]string {
	entries := map[string]string{}
	name := ""
	for _, line := range strings.Split(help, "\n") {
		if m := regexp.MustCompile(`^  -([a-z][a-z-]*)`).FindStringSubmatch(line); m != nil {
			name = m[1]
		} else if !strings.HasPrefix(line, "    ") {
			name = ""
		}
		if name != "" {
			entries[name] += line + "\n"
		}
	}
	return entries
}

func TestEachFlagIsListedOnceAndCleanly(t *testing.T) {
	_, general, _ := runCLI(context.Background(), "help")
	for _, cmd := range [][]string{{"new"}, {"gen"}, {"registry", "ls"}, {"registry", "watch"}, {"config", "get"}, {"config", "set"}, {"config", "watch"}, {"rules", "get"}, {"rules", "set"}, {"rules", "watch"}, {"rules", "validate"}} {
		code, out, stderr := runCLI(context.Background(), append(cmd, "-h")...)
		help := out + stderr // before the fix, -h went to stderr
		entries := flagEntries(help)
		if code != 0 || len(entries) == 0 {
			t.Fatalf("%s -h: status %d, no flags in:\n%s", cmd, code, help)
		}
		for name, entry := range entries {
			first, _, _ := strings.Cut(entry, "\n")
			// A usage text with `quotes` makes flag print the quoted words as the
			// flag's argument name: "-no-tidy go mod tidy".
			if fields := strings.Fields(first); len(fields) > 2 {
				t.Errorf("%s -h: garbled flag line %q", cmd, first)
			}
			if n := strings.Count(entry, "default"); n > 1 {
				t.Errorf("%s -h: flag -%s names %d defaults:\n%s", cmd, name, n, entry)
			}
			if !strings.Contains(general, "--"+name) {
				t.Errorf("the general usage does not mention %s's --%s", cmd, name)
			}
		}
	}
}

func TestGenOutsideTheProjectRootSaysWhereToRunIt(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "module example.com/orders\n", 0o644)
	writeFile(t, filepath.Join(root, "orderspb", "orders.proto"), "syntax = \"proto3\";\npackage orders;\n", 0o644)
	sub := filepath.Join(root, "internal", "store")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(context.Background(), "gen", "--dir", sub)
	if code != 1 || !strings.Contains(stderr, "project root") || !strings.Contains(stderr, root) {
		t.Fatalf("gen in a subdirectory: status %d, stderr %q; want 1 and a hint naming the project root %s", code, stderr, root)
	}
}
