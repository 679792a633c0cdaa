package eureka_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// newStatusServer returns the URL of an HTTP server that answers every request with code.
func newStatusServer(t *testing.T, code int) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s.URL + "/eureka"
}
