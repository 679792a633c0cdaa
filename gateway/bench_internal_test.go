package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMiddleware measures what Middleware costs a request: the chain a route runs
// with no middleware and with ten that only call the next handler.
func BenchmarkMiddleware(b *testing.B) {
	noop := func(_ string, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(w, r) })
	}
	final := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	w, r := httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)
	for _, n := range []int{0, 10} {
		mws := make([]Middleware, n)
		for i := range mws {
			mws[i] = noop
		}
		h := chain("r", mws, final)
		b.Run(map[int]string{0: "none", 10: "ten-noop"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkMatch1000Routes looks a request up among 1,000 prefix routes and a template.
func BenchmarkMatch1000Routes(b *testing.B) {
	routes := make([]Route, 0, 1001)
	for i := range 1000 {
		routes = append(routes, Route{Name: "r", Match: Match{Path: PathMatch{Prefix: "/svc" + itoa(i) + "/api"}}})
	}
	routes = append(routes, Route{Name: "t", Match: Match{Path: PathMatch{Template: "/svc500/items/{id}"}, Methods: []string{"GET"}}})
	tb := testTable(b, routes)
	r := httptest.NewRequest("GET", "/svc500/items/42", nil)
	b.ReportAllocs()
	for b.Loop() {
		ri := reqInfo{r: r, path: cleanPath(r.URL.Path)}
		if tb.match("", &ri) == nil {
			b.Fatal("no match")
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var buf [20]byte
	n := len(buf)
	for ; i > 0; i /= 10 {
		n--
		buf[n] = byte('0' + i%10)
	}
	return string(buf[n:])
}
