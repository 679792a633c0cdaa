package config

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Every decoder of outside data must turn any input into either a tree or a
// *SyntaxError, never a panic, and the tree must survive merging, placeholder
// resolution and scanning.
func fuzzDecoder(f *testing.F, dec DecodeFunc, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, err := dec(data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *SyntaxError", err, err)
			}
			return
		}
		merged := merge(map[string]any{"base": "x"}, tree)
		resolved, err := resolveTree(merged, func(string) (string, bool) { return "", false }, nil)
		if err != nil {
			return
		}
		var anyV any
		_ = scanValue(resolved, true, &anyV, "")
		var st struct {
			A string
			B int
			C []string
			D map[string]float64
		}
		_ = scanValue(resolved, true, &st, "")
	})
}

func FuzzDecodeYAML(f *testing.F) {
	fuzzDecoder(f, decodeYAML, "a: 1\nb: [x, y]\n", "a: &x {b: 1}\nc: *x\n", "- 1\n", "a: ${b:c}\n")
}

func FuzzDecodeJSON(f *testing.F) {
	fuzzDecoder(f, decodeJSON, `{"a":1,"b":[true,null]}`, `{"a":18446744073709551615}`, `[1]`, `{"a":1} {}`)
}

func FuzzDecodeTOML(f *testing.F) {
	fuzzDecoder(f, decodeTOML, "a = 1\n[b]\nc = \"d\"\n", "d = 1979-05-27T07:32:00Z\n", "a = [1, 'x']\n")
}

func FuzzDecodeProperties(f *testing.F) {
	fuzzDecoder(f, decodeProperties, "a.b=1\na.c : 2\n", "a=1\na.b=2\n", "k=\\u0041\\\n  more\n", "! comment\n")
}

func FuzzPlaceholders(f *testing.F) {
	for _, s := range []string{"${a}", "${a:b}", "x${b.c}y", "$${a}", "${a:${b:${c}}}", "${", "${}", "${a}${a}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		root := map[string]any{"a": "${b}", "b": map[string]any{"c": int64(1)}, "v": s}
		_, err := resolveTree(root, func(k string) (string, bool) { return k, k == "ENV" }, nil)
		if err != nil && !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrMissingKey) && !errors.Is(err, ErrType) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if !strings.Contains(s, "${") {
			if err != nil {
				t.Fatalf("a value without placeholders failed: %v", err)
			}
		}
	})
}

// Flat sources (environment, flags) go through PropertiesDocument and back
// through the properties decoder; any value must survive the trip.
func FuzzPropertiesDocumentRoundTrip(f *testing.F) {
	for _, s := range []string{"plain", " leading space", "tab\tand\nnewline", "${NOT_EXPANDED}", `back\slash`, "ünïcode", "a=b:c", "#not a comment"} {
		f.Add("db.host", s)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		if !utf8.ValidString(value) || !utf8.ValidString(key) || key == "" ||
			strings.Contains("."+key+".", "..") {
			t.Skip()
		}
		d := PropertiesDocument("t", map[string]string{key: value})
		tree, err := decodeProperties(d.Data)
		if err != nil {
			t.Fatalf("decoding %q: %v", d.Data, err)
		}
		got, ok := lookupExact(tree, key)
		if !ok || got != value {
			t.Fatalf("key %q value %q came back as %q (present %v) via %q", key, value, got, ok, d.Data)
		}
	})
}

func lookupExact(root map[string]any, key string) (any, bool) {
	var cur any = root
	for _, seg := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}
