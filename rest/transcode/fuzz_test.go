package transcode

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/rest/transcode/internal/testpb"
)

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

// FuzzQuery sends any query string (and any path variable) through the whole decoder:
// the answer must be the method's (501 from the unimplemented service) or a 400, never a
// panic or another status.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"pageSize=5&author.name=x", "genres=GENRE_FICTION&genres=2", "since=2020-01-02T03:04:05Z",
		"ids=1&ids=x", "token=_w", "minPages=7", "maxRead=1.5s", "author.born=99999999999", "%zz", "a.b.c=1",
		"author=x", "parent=y", "minPrice=NaN", "inPrint=maybe", "maxPages=-1", "author.name=a&author.name=b"} {
		f.Add("s1", s)
	}
	h, err := New(Local(&testpb.Bookstore_ServiceDesc, testpb.UnimplementedBookstoreServer{}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, shelf, query string) {
		u := &url.URL{Path: "/v1/shelves/" + shelf + "/books", RawQuery: query}
		req, err := http.NewRequest("GET", u.String(), nil)
		if err != nil {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusNotImplemented, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Errorf("%s: %d %s", u, rec.Code, rec.Body)
		}
	})
}

// FuzzBody posts any body to a method whose body is one field and to one whose body is
// the whole request: the answer is the method's (501) or a 400 naming where the JSON went
// wrong, never a panic; pathAt, which names the field, runs on every refused body.
func FuzzBody(f *testing.F) {
	for _, s := range []string{`{"title":"x"}`, `{"author":{"born":"x"}}`, `{"tags":[1,{}]}`, `[`, `{"a":`, `}`,
		`{"book":{"ratings":{"k":"v"}}}`, `{"updateMask":7}`, `null`, `{"extra":{"a":[{"b":}]}}`} {
		f.Add(s)
	}
	h, err := New(Local(&testpb.Bookstore_ServiceDesc, testpb.UnimplementedBookstoreServer{}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, target := range []string{"POST /v1/shelves/s1/books", "PATCH /v1/shelves/s1/books/b1"} {
			method, path, _ := strings.Cut(target, " ")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
			if rec.Code != http.StatusNotImplemented && rec.Code != http.StatusBadRequest {
				t.Errorf("%s %q: %d %s", target, body, rec.Code, rec.Body)
			}
		}
		_ = pathAt([]byte(body), len(body)/2)
	})
}
