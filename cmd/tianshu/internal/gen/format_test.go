package gen

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeTree writes rendered files under dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEveryGeneratedGoFileIsGofmtCleanForEveryRegistry(t *testing.T) {
	gofmt, err := exec.LookPath("gofmt")
	if err != nil {
		out, gerr := exec.Command("go", "env", "GOROOT").Output()
		if gerr != nil {
			t.Fatalf("no gofmt on PATH and no GOROOT: %v", gerr)
		}
		gofmt = filepath.Join(strings.TrimSpace(string(out)), "bin", "gofmt")
	}
	for _, reg := range Registries {
		for _, replace := range []string{"", "/src/tianshu"} {
			t.Run(reg+" replace="+replace, func(t *testing.T) {
				files, err := Render(Options{Name: "order-history", Module: "example.com/shop/orders", Registry: reg, Replace: replace})
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				writeTree(t, dir, files)
				out, err := exec.Command(gofmt, "-l", dir).CombinedOutput()
				if err != nil || len(out) > 0 {
					t.Errorf("gofmt -l lists files it would change (%v):\n%s", err, out)
				}
			})
		}
	}
}

var schemeRE = regexp.MustCompile(`\b([a-z]+)://`)

// Every URL the generated config suggests must be one the generated binary can open.
func TestConfigSuggestsOnlyRegistrySchemesTheBinaryImports(t *testing.T) {
	for _, reg := range Registries {
		t.Run(reg, func(t *testing.T) {
			files, err := Render(Options{Name: "orders", Registry: reg})
			if err != nil {
				t.Fatal(err)
			}
			backends := string(files["backends.go"])
			for _, name := range []string{"config.yaml", "config.go", "deploy/k8s/configmap.yaml"} {
				for _, m := range schemeRE.FindAllStringSubmatch(string(files[name]), -1) {
					scheme := m[1]
					if scheme == "http" || scheme == "https" {
						continue // tracing endpoints
					}
					if !strings.Contains(backends, `"github.com/tianshu-go/tianshu/registry/`+scheme+`"`) {
						t.Errorf("%s suggests a %s:// registry URL, but backends.go does not import that backend", name, scheme)
					}
				}
			}
			if !strings.Contains(backends, "backends.go imports") {
				t.Error("backends.go's unknown-scheme error does not point at backends.go")
			}
		})
	}
}
