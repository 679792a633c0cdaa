package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestOrdersAnswersMapToTheHTTPStatusAJSONClientExpects(t *testing.T) {
	tests := []struct {
		name string
		code codes.Code
		want int
	}{
		{"a bad quantity is the client's mistake", codes.InvalidArgument, http.StatusBadRequest},
		{"an unknown item is not found", codes.NotFound, http.StatusNotFound},
		{"too little stock is a conflict", codes.FailedPrecondition, http.StatusConflict},
		{"an unavailable payment is a 503", codes.Unavailable, http.StatusServiceUnavailable},
		{"a timeout is a gateway timeout", codes.DeadlineExceeded, http.StatusGatewayTimeout},
		{"anything else is a bad gateway", codes.Internal, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := httpCode(status.Error(tt.code, "x")); got != tt.want {
				t.Errorf("httpCode(%v) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
}

func TestMalformedOrdersAreRejectedWithTheExpectedShape(t *testing.T) {
	for _, body := range []string{`{"item": "tea", "quantity": "two"}`, `{"sku": "tea"}`, `not json`} {
		g := &gateway{status: Status{ServedBy: map[string]int64{}}}
		rec := httptest.NewRecorder()
		g.routes().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body)))
		var e Error
		if rec.Code != http.StatusBadRequest || json.Unmarshal(rec.Body.Bytes(), &e) != nil ||
			!strings.Contains(e.Error, `want {"item": "tea", "quantity": 1}`) {
			t.Errorf("POST %s: %d %s; want 400 naming the expected shape", body, rec.Code, rec.Body)
		}
		if g.status.Rejected != 1 || g.status.Failed != 0 {
			t.Errorf("POST %s counted rejected=%d failed=%d, want 1 and 0", body, g.status.Rejected, g.status.Failed)
		}
	}
}
