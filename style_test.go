package tianshu_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// generated marks files made by a generator (go.dev/s/generatedcode), which wrap as it likes.
var generated = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// commentWidth is where the project wraps comments, counting a tab as four columns.
const commentWidth = 95

// Comments wrap at one width, so that the code reads the same from package to package. Code
// in doc comments (lines starting "//\t") and example output are exempt: they are what they
// are, and so are generated files and //go: directives. The rule covers the whole module.
func TestCommentsWrapAtOneWidth(t *testing.T) {
	{
		err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if generated.Match(b) {
				return nil
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
				if output || strings.HasPrefix(text, "//\t") || strings.HasPrefix(text, "//go:") {
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

// Every log record names its error under one key, "err", so that one query finds them all.
// The test reads each call of a slog-shaped method (Debug, Info, Warn, Error, their Context
// forms, Log, With) in the library's non-test files and fails on a string literal "error"
// standing where a key stands.
func TestLogRecordsNameTheirErrorErr(t *testing.T) {
	methods := map[string]int{ // method -> index of its first key/value argument
		"Debug": 1, "Info": 1, "Warn": 1, "Error": 1,
		"DebugContext": 2, "InfoContext": 2, "WarnContext": 2, "ErrorContext": 2,
		"Log": 3, "With": 0,
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			first, ok := methods[sel.Sel.Name]
			if !ok {
				return true
			}
			for i := first; i < len(call.Args); i += 2 {
				if lit, ok := call.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value == `"error"` {
					t.Errorf("%s: log key \"error\": name the error \"err\"", fset.Position(lit.Pos()))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
