package transcode

import (
	"errors"
	"strings"
	"testing"
)

func TestTemplatesMatchAndCapture(t *testing.T) {
	tests := []struct {
		tmpl, path string
		match      bool
		vars       []string
	}{
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b1", true, []string{"shelves/s1/books/b1"}},
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books", false, nil},
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves//books/b1", false, nil},
		{"/v1/{name=shelves/*/books/*}:cancel", "/v1/shelves/s1/books/b1:cancel", true, []string{"shelves/s1/books/b1"}},
		{"/v1/{name=shelves/*/books/*}:cancel", "/v1/shelves/s1/books/b1", false, nil},
		{"/v1/{shelf}/files/{path=**}", "/v1/s/files/a/b/c", true, []string{"s", "a/b/c"}},
		{"/v1/{shelf}/files/{path=**}", "/v1/s/files", true, []string{"s", ""}},
		{"/v1/*/x", "/v1/anything/x", true, nil},
		{"/v1/**", "/v1/", true, nil},
		{"/v1/a", "/v1/a/", false, nil},
		{"/v1/a", "v1/a", false, nil},
	}
	for _, tt := range tests {
		tm, err := parseTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		var got []string
		ok := tm.match(tt.path, func(_ int, raw string) { got = append(got, raw) })
		if ok != tt.match || ok && strings.Join(got, "|") != strings.Join(tt.vars, "|") {
			t.Errorf("%s on %s = %v %q, want %v %q", tt.tmpl, tt.path, ok, got, tt.match, tt.vars)
		}
	}
}

func TestBadTemplatesAreErrRule(t *testing.T) {
	for _, src := range []string{"", "v1/a", "/v1/**/a", "/v1/{a", "/v1/{a=b/{c}}", "/v1/{1a}", "/v1//a",
		"/v1/{a}/{a}", "/v1/a:", "/v1/{a.}"} {
		if _, err := parseTemplate(src); !errors.Is(err, ErrRule) {
			t.Errorf("parseTemplate(%q) = %v, want ErrRule", src, err)
		}
	}
}

func TestPathAtNamesTheFieldAnOffsetFallsIn(t *testing.T) {
	data := `{"a":1,"b":{"c":[1,{"d":"x"}]},"e":2}`
	for _, tt := range []struct{ at, want string }{{`"x"`, "b.c[1].d"}, {`2}`, "e"}, {`1,"b"`, "a"}} {
		if got := pathAt([]byte(data), strings.Index(data, tt.at)); got != tt.want {
			t.Errorf("pathAt(%s) = %q, want %q", tt.at, got, tt.want)
		}
	}
}

func TestUnescapeKeepsSlashesOnlyInVariablesOfSeveralSegments(t *testing.T) {
	for _, tt := range []struct {
		raw   string
		multi bool
		want  string
		fails bool
	}{
		{"a%2Fb%20c", false, "a/b c", false},
		{"a%2Fb%2fc%20d", true, "a%2Fb%2fc d", false},
		{"plain", true, "plain", false},
		{"bad%2", false, "", true},
		{"bad%zz", true, "", true},
	} {
		got, err := unescape(tt.raw, tt.multi)
		if got != tt.want || (err != nil) != tt.fails {
			t.Errorf("unescape(%q, %v) = %q, %v", tt.raw, tt.multi, got, err)
		}
	}
}
