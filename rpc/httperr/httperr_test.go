package httperr

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEveryStandardCodeHasItsCanonicalNameAndHTTPStatus(t *testing.T) {
	tests := []struct {
		code codes.Code
		name string
		http int
	}{
		{codes.OK, "OK", 200},
		{codes.Canceled, "CANCELLED", 499},
		{codes.Unknown, "UNKNOWN", 500},
		{codes.InvalidArgument, "INVALID_ARGUMENT", 400},
		{codes.DeadlineExceeded, "DEADLINE_EXCEEDED", 504},
		{codes.NotFound, "NOT_FOUND", 404},
		{codes.AlreadyExists, "ALREADY_EXISTS", 409},
		{codes.PermissionDenied, "PERMISSION_DENIED", 403},
		{codes.ResourceExhausted, "RESOURCE_EXHAUSTED", 429},
		{codes.FailedPrecondition, "FAILED_PRECONDITION", 400},
		{codes.Aborted, "ABORTED", 409},
		{codes.OutOfRange, "OUT_OF_RANGE", 400},
		{codes.Unimplemented, "UNIMPLEMENTED", 501},
		{codes.Internal, "INTERNAL", 500},
		{codes.Unavailable, "UNAVAILABLE", 503},
		{codes.DataLoss, "DATA_LOSS", 500},
		{codes.Unauthenticated, "UNAUTHENTICATED", 401},
		{codes.Code(42), "CODE_42", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeName(tt.code); got != tt.name {
				t.Errorf("CodeName(%d) = %q, want %q", tt.code, got, tt.name)
			}
			if got := HTTPStatus(tt.code); got != tt.http {
				t.Errorf("HTTPStatus(%s) = %d, want %d", tt.name, got, tt.http)
			}
		})
	}
}

// decode checks the body has exactly the three fields, details an array.
func decode(t *testing.T, rec *httptest.ResponseRecorder) Body {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body, err)
	}
	if len(raw) != 3 || raw["code"] == nil || raw["message"] == nil || !strings.HasPrefix(string(raw["details"]), "[") {
		t.Errorf("body %s, want exactly code, message and a details array", rec.Body)
	}
	var b Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteCarriesCodeMessageAndDetails(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "quantity must be positive").WithDetails(wrapperspb.String("quantity"))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	Write(rec, st)
	b := decode(t, rec)
	if rec.Code != http.StatusBadRequest || b.Code != "INVALID_ARGUMENT" || b.Message != "quantity must be positive" {
		t.Errorf("Write = %d %+v", rec.Code, b)
	}
	if len(b.Details) != 1 || !strings.Contains(string(b.Details[0]), `"@type":"type.googleapis.com/google.protobuf.StringValue"`) ||
		!strings.Contains(string(b.Details[0]), `"value":"quantity"`) {
		t.Errorf("details = %s, want the detail in protobuf JSON", b.Details)
	}

	rec = httptest.NewRecorder()
	Write(rec, status.New(codes.NotFound, "no such item"))
	if b := decode(t, rec); rec.Code != 404 || b.Code != "NOT_FOUND" || len(b.Details) != 0 {
		t.Errorf("Write(NotFound) = %d %s", rec.Code, rec.Body)
	}
}

func TestMuxAnswersUnroutedRequestsWithTheJSONBody(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(r.PathValue("id"))) })
	mux.HandleFunc("GET /docs/", func(w http.ResponseWriter, r *http.Request) {})
	h := Mux(mux)
	serve := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}

	t.Run("an unknown path is 404 NOT_FOUND", func(t *testing.T) {
		rec := serve(http.MethodGet, "/nope")
		if b := decode(t, rec); rec.Code != 404 || b.Code != "NOT_FOUND" || !strings.Contains(b.Message, "/nope") {
			t.Errorf("GET /nope = %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("a known path with another method is 405 with Allow", func(t *testing.T) {
		rec := serve(http.MethodDelete, "/orders")
		if b := decode(t, rec); rec.Code != 405 || b.Code != "UNIMPLEMENTED" || rec.Header().Get("Allow") != "POST" {
			t.Errorf("DELETE /orders = %d Allow %q %s", rec.Code, rec.Header().Get("Allow"), rec.Body)
		}
	})
	t.Run("matched routes are served as the mux serves them, path values included", func(t *testing.T) {
		if rec := serve(http.MethodPost, "/orders"); rec.Code != http.StatusCreated {
			t.Errorf("POST /orders = %d", rec.Code)
		}
		if rec := serve(http.MethodGet, "/orders/42"); rec.Code != 200 || rec.Body.String() != "42" {
			t.Errorf("GET /orders/42 = %d %q", rec.Code, rec.Body)
		}
	})
	t.Run("the mux's redirects pass through", func(t *testing.T) {
		rec := serve(http.MethodGet, "/docs")
		if rec.Code/100 != 3 || rec.Header().Get("Location") != "/docs/" {
			t.Errorf("GET /docs = %d Location %q", rec.Code, rec.Header().Get("Location"))
		}
	})
}
