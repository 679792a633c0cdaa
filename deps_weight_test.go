package tianshu_test

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
)

// heavySDKs are the module path prefixes of the Nacos SDK and the Alibaba Cloud SDKs it
// pulls in: 22 modules that a service which does not use Nacos must never download.
var heavySDKs = []string{
	"github.com/nacos-group/",
	"github.com/aliyun/",
	"github.com/alibabacloud-go/",
}

// One go.mod holds every backend (docs/dependencies.md gives the figures behind that
// choice). It stays cheap only because Go prunes the module graph: a program that imports
// rpc and the file registry must fetch the source of no Nacos or Alibaba Cloud module, only
// a few of their go.mod files. This builds such a program, and one that imports
// registry/nacos as a control that the count sees what it should, each with an empty
// module cache, and counts the module zips the go command downloaded.
func TestAProgramWithoutNacosDownloadsNoNacosSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two programs with empty module caches")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	root := checkoutRoot(t)
	goSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	// The module cache this checkout was built from serves as the first proxy: the test
	// then runs offline wherever Tianshu's own tests have run once. The configured proxy
	// answers what that cache lacks.
	cache := goEnv(t, "GOMODCACHE")
	proxy := "file://" + filepath.ToSlash(filepath.Join(cache, "cache", "download")) + "," + goEnv(t, "GOPROXY")

	for _, tc := range []struct {
		backend   string
		wantHeavy bool
	}{
		{"file", false},
		{"nacos", true},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/weight\n\ngo 1.26.0\n\n"+
				"require github.com/tianshu-go/tianshu v0.0.0-00010101000000-000000000000\n\n"+
				"replace github.com/tianshu-go/tianshu => "+root+"\n")
			// Tianshu's go.sum covers every module the program can need, so nothing is
			// looked up in the checksum database.
			writeFile(t, filepath.Join(dir, "go.sum"), string(goSum))
			writeFile(t, filepath.Join(dir, "main.go"), `package main

import (
	"context"

	"github.com/tianshu-go/tianshu/registry"
	_ "github.com/tianshu-go/tianshu/registry/`+tc.backend+`"
	"github.com/tianshu-go/tianshu/rpc"
)

func main() {
	reg, err := registry.Open(context.Background(), "file://")
	if err == nil {
		reg.Close()
	}
	_ = rpc.NewServer()
}
`)
			modcache := filepath.Join(dir, "modcache")
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "weight"), ".")
			cmd.Dir = dir
			// -mod=mod lets the build complete go.mod from the requirements of Tianshu's;
			// -modcacherw lets t.TempDir remove the cache.
			cmd.Env = append(os.Environ(), "GOMODCACHE="+modcache, "GOFLAGS=-mod=mod -modcacherw",
				"GOPROXY="+proxy, "GOWORK=off", "GOTOOLCHAIN=local")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build of a program importing registry/%s and rpc: %v\n%s", tc.backend, err, out)
			}

			var zips, heavy []string
			err := filepath.WalkDir(filepath.Join(modcache, "cache", "download"), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || !strings.HasSuffix(p, ".zip") {
					return err
				}
				rel, _ := filepath.Rel(filepath.Join(modcache, "cache", "download"), p)
				rel = filepath.ToSlash(rel)
				zips = append(zips, rel)
				for _, h := range heavySDKs {
					if strings.HasPrefix(rel, h) {
						heavy = append(heavy, rel)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("registry/%s + rpc: %d module zips downloaded, %d of them Nacos or Alibaba Cloud", tc.backend, len(zips), len(heavy))
			switch {
			case !tc.wantHeavy && len(heavy) > 0:
				t.Errorf("a program importing only registry/file and rpc downloaded the source of %d Nacos or Alibaba Cloud modules:\n%s\n"+
					"a package it imports now depends on registry/nacos or the Nacos SDK (go list -deps shows which), or a heavy backend needs its own module (docs/dependencies.md)",
					len(heavy), strings.Join(heavy, "\n"))
			case tc.wantHeavy && !slicesHasPrefix(heavy, "github.com/nacos-group/nacos-sdk-go/"):
				t.Errorf("a program importing registry/nacos downloaded no zip of the Nacos SDK; the count cannot see downloads. Zips:\n%s",
					strings.Join(zips, "\n"))
			}
		})
	}
}

func slicesHasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// checkoutRoot is the directory of this file: the root of the Tianshu checkout.
func checkoutRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Dir(file)
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
