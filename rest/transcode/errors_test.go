package transcode_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tianshu-go/tianshu/rest/transcode"
	"github.com/tianshu-go/tianshu/rest/transcode/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

func TestBadRequestsGetTheOneJSONErrorBody(t *testing.T) {
	tests := []struct {
		name           string
		opts           []transcode.Option
		method, target string
		body           string
		code           int
		grpcCode       string
		say            string
		allow          string
	}{
		{"malformed JSON names the field path", nil, "POST", "/v1/shelves/s1/books",
			`{"title":"x","author":{"name":"y","born":"soon"}}`, 400, "INVALID_ARGUMENT", "field book.author.born", ""},
		{"a bad element of a list names its index", nil, "PATCH", "/v1/shelves/s1/books/b1",
			`{"book":{"tags":["a",7]}}`, 400, "INVALID_ARGUMENT", "field book.tags[1]", ""},
		{"a bad element of a repeated body field names its index", nil, "POST", "/v1/shelves/s1/books/b1:tag",
			`["a",{}]`, 400, "INVALID_ARGUMENT", "field tags[1]", ""},
		{"JSON that does not parse is a 400", nil, "PATCH", "/v1/shelves/s1/books/b1",
			`{"book":`, 400, "INVALID_ARGUMENT", "body", ""},
		{"an unknown route is a JSON 404", nil, "GET", "/v2/nothing", "", 404, "NOT_FOUND", "no route for GET /v2/nothing", ""},
		{"a known path with the wrong method is a 405 with Allow", nil, "POST", "/v1/shelves/s1/books/b1", "",
			405, "UNIMPLEMENTED", "method POST not allowed", "DELETE, GET, PATCH, PUT"},
		{"a body over the limit is a 413", []transcode.Option{transcode.WithBodyLimit(16)}, "POST", "/v1/shelves/s1/books",
			`{"title":"longer than sixteen bytes"}`, 413, "RESOURCE_EXHAUSTED", "larger than 16 bytes", ""},
		{"an unknown query parameter is a 400 in strict mode", []transcode.Option{transcode.WithStrictQuery()}, "GET",
			"/v1/shelves/s1/books?colour=red", "", 400, "INVALID_ARGUMENT", `unknown query parameter "colour"`, ""},
		{"a query parameter for a field the path sets is a 400 in strict mode", []transcode.Option{transcode.WithStrictQuery()},
			"GET", "/v1/shelves/s1/books?parent=x", "", 400, "INVALID_ARGUMENT", `query parameter "parent"`, ""},
		{"a query value of the wrong type names the parameter", nil, "GET", "/v1/shelves/s1/books?pageSize=many", "",
			400, "INVALID_ARGUMENT", `query parameter "pageSize"`, ""},
		{"two values for a field that is not repeated is a 400", nil, "GET", "/v1/shelves/s1/books?pageSize=1&pageSize=2", "",
			400, "INVALID_ARGUMENT", "2 values", ""},
		{"an enum value that does not exist is a 400", nil, "GET", "/v1/shelves/s1/books?genres=POETRY", "",
			400, "INVALID_ARGUMENT", "POETRY", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"local", "remote"} {
				be := newBackends(t, mode, false, tt.opts...)
				got := serve(be.ours, tt.method, tt.target, tt.body)
				checkError(t, got, tt.code, tt.grpcCode, tt.say)
				if got.header.Get("Allow") != tt.allow {
					t.Errorf("%s: Allow = %q, want %q", mode, got.header.Get("Allow"), tt.allow)
				}
			}
		})
	}
}

func checkError(t *testing.T, got answer, code int, grpcCode, say string) {
	t.Helper()
	var body httperr.Body
	if err := json.Unmarshal([]byte(got.body), &body); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got.body)
	}
	if got.code != code || body.Code != grpcCode || !strings.Contains(body.Message, say) || body.Details == nil {
		t.Errorf("got %d %s, want %d with code %s mentioning %q", got.code, got.body, code, grpcCode, say)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	// A gRPC error comes as a trailers-only answer, whose content-type grpc-go hands over
	// as trailer metadata: the transport's, not the method's.
	if v := got.header.Values("Grpc-Trailer-Content-Type"); len(v) != 0 {
		t.Errorf("Grpc-Trailer-Content-Type = %q, want none", v)
	}
}

func TestMethodErrorsMapToHTTPStatuses(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		be := newBackends(t, mode, false)
		be.impl.fail = status.Error(codes.NotFound, "no such book")
		checkError(t, serve(be.ours, "GET", "/v1/shelves/s1/books/b1", ""), 404, "NOT_FOUND", "no such book")
		be.impl.fail = status.Error(codes.PermissionDenied, "not yours")
		checkError(t, serve(be.ours, "GET", "/v1/shelves/s1/books:stream", ""), 403, "PERMISSION_DENIED", "not yours")
	}
}

func TestAStreamThatFailsMidwayEndsWithAnErrorLine(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		be := newBackends(t, mode, false)
		got := serve(be.ours, "GET", "/v1/shelves/s1/books:stream?pageSize=2&pageToken=fail", "")
		lines := strings.Split(strings.TrimSpace(got.body), "\n")
		if got.code != 200 || len(lines) != 3 || got.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("%s: %d %v %q", mode, got.code, got.header, got.body)
		}
		var last struct{ Error httperr.Body }
		if err := json.Unmarshal([]byte(lines[2]), &last); err != nil || last.Error.Code != "DATA_LOSS" {
			t.Errorf("%s: last line %s (%v), want a DATA_LOSS error", mode, lines[2], err)
		}
	}
}

func TestHeadersTravelAsMetadataBothWays(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		be := newBackends(t, mode, false)
		got := serve(be.ours, "GET", "/v1/shelves/s1/books/b1", "", "Authorization", "Bearer t", "X-Request-Id", "r1")
		_, md := be.impl.lastRequest()
		if v := md.Get("authorization"); len(v) != 1 || v[0] != "Bearer t" {
			t.Errorf("%s: authorization metadata = %v", mode, v)
		}
		if v := md.Get("x-request-id"); len(v) != 1 || v[0] != "r1" {
			t.Errorf("%s: x-request-id metadata = %v", mode, v)
		}
		if v := got.header.Get("Grpc-Metadata-X-Served-By"); v != "bookstore" {
			t.Errorf("%s: Grpc-Metadata-X-Served-By = %q, want the header the method set", mode, v)
		}
	}
}

func TestNewRejectsWhatItCannotServe(t *testing.T) {
	impl := &bookstore{}
	tests := []struct {
		name string
		opts []transcode.Option
		want error
	}{
		{"a body limit of zero", []transcode.Option{transcode.WithBodyLimit(0)}, transcode.ErrOption},
		{"Local without an implementation", []transcode.Option{transcode.Local(&testpb.Bookstore_ServiceDesc, nil)}, transcode.ErrOption},
		{"Local with the wrong implementation", []transcode.Option{transcode.Local(&testpb.Bookstore_ServiceDesc, struct{}{})}, transcode.ErrService},
		{"a nil interceptor", []transcode.Option{transcode.WithUnaryInterceptors(nil)}, transcode.ErrOption},
		{"Remote without a connection", []transcode.Option{transcode.Remote(nil, serviceName)}, transcode.ErrOption},
		{"a service whose descriptor is not linked in", []transcode.Option{transcode.WithFiles(new(protoregistry.Files)),
			transcode.Local(&testpb.Bookstore_ServiceDesc, impl)}, transcode.ErrService},
		{"a service bound twice", []transcode.Option{transcode.Local(&testpb.Bookstore_ServiceDesc, impl),
			transcode.Local(&testpb.Bookstore_ServiceDesc, impl)}, transcode.ErrRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := transcode.New(tt.opts...); !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestABodyOfUnknownLengthIsCutAtTheLimit sends a body with no Content-Length, as a
// chunked request arrives, so the limit must hold while reading.
func TestABodyOfUnknownLengthIsCutAtTheLimit(t *testing.T) {
	be := newBackends(t, "local", false, transcode.WithBodyLimit(16))
	body := io.MultiReader(strings.NewReader(`{"title":"longer than `), strings.NewReader(`sixteen bytes"}`))
	req := httptest.NewRequest("POST", "/v1/shelves/s1/books", body)
	if req.ContentLength != -1 {
		t.Fatalf("ContentLength = %d, want unknown", req.ContentLength)
	}
	rec := httptest.NewRecorder()
	be.ours.ServeHTTP(rec, req)
	checkError(t, answer{rec.Code, rec.Header(), rec.Body.String()}, 413, "RESOURCE_EXHAUSTED", "larger than 16 bytes")
}

// TestGRPCTimeoutSetsTheDeadline: a REST client bounds the call with Grpc-Timeout as a gRPC
// client would; a method that outlives it is answered 504.
func TestGRPCTimeoutSetsTheDeadline(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		be := newBackends(t, mode, false)
		be.impl.block = true
		checkError(t, serve(be.ours, "GET", "/v1/shelves/s1/books/b1", "", "Grpc-Timeout", "20m"),
			504, "DEADLINE_EXCEEDED", "")
		checkError(t, serve(be.ours, "GET", "/v1/shelves/s1/books/b1", "", "Grpc-Timeout", "soon"),
			400, "INVALID_ARGUMENT", "Grpc-Timeout")
	}
}
