package transcode

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/rest/transcode/internal/testpb"
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

// FuzzTemplate checks that parsing never panics, that every template it accepts matches
// the path made by filling its wildcards, and that matching any path never panics.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/v1/{name=shelves/*/books/*}", "/v1/{shelf}/files/{path=**}", "/v1/a:verb",
		"/v1/*/**", "/{a.b.c}", "/v1/{x=*}/y:z"} {
		f.Add(s, "/v1/shelves/s1/books/b1")
	}
	f.Fuzz(func(t *testing.T, src, path string) {
		tm, err := parseTemplate(src)
		if err != nil {
			return
		}
		tm.match(path, func(int, string) {})
		var b strings.Builder
		for _, s := range tm.segs {
			b.WriteByte('/')
			if s.kind == segLiteral {
				b.WriteString(s.lit)
			} else {
				b.WriteString("w")
			}
		}
		if tm.verb != "" {
			b.WriteString(":" + tm.verb)
		}
		if !tm.match(b.String(), nil) {
			t.Errorf("%q does not match its own instance %q", src, b.String())
		}
	})
}

// FuzzQuery checks that decoding any query into a request never panics and either sets
// fields or fails with an error.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"pageSize=5&author.name=x", "genres=GENRE_FICTION&genres=2", "since=2020-01-02T03:04:05Z",
		"ids=1&ids=x", "token=_w", "minPages=7", "maxRead=1.5s", "author.born=99999999999", "%zz", "a.b.c=1"} {
		f.Add(s)
	}
	md := (&testpb.ListBooksRequest{}).ProtoReflect().Descriptor()
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		m := (&testpb.ListBooksRequest{}).ProtoReflect()
		for key, values := range q {
			fp, err := resolvePath(md, key, true)
			if err != nil {
				continue
			}
			_ = setField(m, fp, values)
		}
	})
}
