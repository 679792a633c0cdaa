package tianshu_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// commentWidth is where the project wraps comments, counting a tab as four columns.
const commentWidth = 95

// Comments wrap at one width, so that the code reads the same from package to package. Code
// in doc comments (lines starting "//\t") and example output are exempt: they are what they
// are. The rule covers the folders listed (with "/*", not their subfolders); add one when its
// comments are rewrapped.
func TestCommentsWrapAtOneWidth(t *testing.T) {
	for _, dir := range []string{"breaker", "loadbalance", "rpc/*", "cmd/tianshu/internal/gen"} {
		dir, flat := strings.CutSuffix(dir, "/*")
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && flat && path != dir {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			output := false
			for i, line := range strings.Split(string(b), "\n") {
				text := strings.TrimLeft(line, "\t ")
				switch {
				case !strings.HasPrefix(text, "//"):
					output = false
					continue
				case strings.HasPrefix(text, "// Output:"), strings.HasPrefix(text, "// Unordered output:"):
					output = true
				}
				if output || strings.HasPrefix(text, "//\t") {
					continue
				}
				tabs := len(line) - len(strings.TrimLeft(line, "\t"))
				if w := 3*tabs + utf8.RuneCountInString(line); w > commentWidth {
					t.Errorf("%s:%d: comment is %d columns wide, wrap it at %d", path, i+1, w, commentWidth)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
