package breaker

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// Each breaker has its own option type, so an option the breaker would ignore is a compile
// error rather than a setting that silently does nothing. The wrong uses live in
// testdata/misuse, one per build tag; the package without tags holds the right uses and must
// build.
func TestOptionsMeantForOneBreakerDoNotCompileForTheOther(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Missing(t, "the go command (it compiles testdata/misuse; put it on PATH)")
	}
	if out, err := exec.Command("go", "build", "./testdata/misuse").CombinedOutput(); err != nil {
		t.Fatalf("the right uses do not compile (go build ./breaker/testdata/misuse): %v\n%s", err, out)
	}
	files, err := filepath.Glob("testdata/misuse/misuse_*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no wrong uses found in testdata/misuse (%v)", err)
	}
	for _, f := range files {
		tag := strings.TrimSuffix(filepath.Base(f), ".go")
		t.Run(tag, func(t *testing.T) {
			out, err := exec.Command("go", "build", "-tags", tag, "./testdata/misuse").CombinedOutput()
			if err == nil {
				t.Fatalf("%s compiles; the option it passes should not fit that constructor "+
					"(go build -tags %s ./breaker/testdata/misuse)", f, tag)
			}
			if !strings.Contains(string(out), "does not implement breaker.") {
				t.Fatalf("%s fails to compile for another reason than the option's type:\n%s", f, out)
			}
		})
	}
}
