package gen

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden from the templates")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// goldenOptions is the service the golden tree holds: no replace directive, so no path of
// this machine ends up in it.
var goldenOptions = Options{Name: "order-history", Module: "example.com/shop/orders", Registry: "file", TianshuVersion: "v0.3.0"}

func TestGeneratedTreeMatchesTheGoldenFiles(t *testing.T) {
	files, err := Render(goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "golden", "file")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for name, b := range files {
			p := filepath.Join(dir, filepath.FromSlash(name)+".golden")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var golden []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		golden = append(golden, strings.TrimSuffix(filepath.ToSlash(rel), ".golden"))
		return nil
	})
	if err != nil {
		t.Fatalf("%v (run `go test ./cmd/tianshu/internal/gen -run Golden -update` to create them)", err)
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	slices.Sort(golden)
	if !slices.Equal(names, golden) {
		t.Fatalf("generated files %v, golden files %v (after an intended change: go test -run Golden -update)", names, golden)
	}
	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		if got := files[name]; string(got) != string(want) {
			t.Errorf("%s differs from its golden file (after an intended change: go test -run Golden -update):\n%s", name, firstDiff(string(want), string(got)))
		}
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return ""
}

func TestValidateRejectsWhatCannotBeGenerated(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"an upper-case service name is rejected", Options{Name: "Orders"}, ErrInvalidName},
		{"a name starting with a digit is rejected", Options{Name: "1orders"}, ErrInvalidName},
		{"a double hyphen is rejected", Options{Name: "order--history"}, ErrInvalidName},
		{"a trailing hyphen is rejected", Options{Name: "orders-"}, ErrInvalidName},
		{"an underscore is rejected", Options{Name: "order_history"}, ErrInvalidName},
		{"an empty name is rejected", Options{}, ErrInvalidName},
		{"a name longer than 40 bytes is rejected", Options{Name: strings.Repeat("a", 41)}, ErrInvalidName},
		{"a module with a space is rejected", Options{Name: "orders", Module: "example.com/my orders"}, ErrInvalidModule},
		{"a module with a trailing slash is rejected", Options{Name: "orders", Module: "example.com/orders/"}, ErrInvalidModule},
		{"a local path is rejected", Options{Name: "orders", Module: "./orders"}, ErrInvalidModule},
		{"a module element Windows reserves for a device is rejected", Options{Name: "orders", Module: "example.com/aux/orders"}, ErrInvalidModule},
		{"a module element like a Windows short name is rejected", Options{Name: "orders", Module: "example.com/ORDERS~1"}, ErrInvalidModule},
		{"an unknown registry is rejected", Options{Name: "orders", Registry: "consul"}, ErrUnknownRegistry},
		{"a hyphenated name with a module path is accepted", Options{Name: "order-history", Module: "example.com/shop/order-history"}, nil},
		{"a bare name is its own module", Options{Name: "orders"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewRefusesANonEmptyDirectoryAndWritesNothing(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), dir, Options{Name: "orders"}, nil)
	if !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("New into a non-empty directory = %v, want ErrTargetNotEmpty naming notes.txt", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("New wrote into the non-empty directory: %d entries", len(entries))
	}
}

func TestNewWritesEveryFileAndRunsTheStubGenerator(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders")
	var gotProtos []string
	names, err := New(context.Background(), dir, Options{Name: "orders"}, func(_ context.Context, root string, protos []string) error {
		gotProtos = protos
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotProtos, []string{"orderspb/orders.proto"}) {
		t.Errorf("stubs ran on %v, want [orderspb/orders.proto]", gotProtos)
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(n))); err != nil {
			t.Error(err)
		}
	}
}

func TestNewKeepsTheProjectWhenStubsFail(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "orders")
	_, err := New(context.Background(), dir, Options{Name: "orders"}, func(context.Context, string, []string) error {
		return errors.New("offline")
	})
	if !errors.Is(err, ErrStubs) || !strings.Contains(err.Error(), "tianshu gen") {
		t.Fatalf("New with failing stubs = %v, want ErrStubs telling to run tianshu gen", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "orderspb", "orders.proto")); err != nil {
		t.Errorf("the proto file is gone after the stubs failed: %v", err)
	}
}
