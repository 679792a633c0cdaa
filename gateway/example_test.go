package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tianshu-go/tianshu/gateway"
)

func ExampleParse() {
	_, err := gateway.Parse([]byte(`
gateway:
  routes:
    - name: orders
      match: {path: {prefix: /orders}, methods: [get]}
      target: {urls: ["http://127.0.0.1:8080/api"]}
`))
	fmt.Println(err)
	// Output:
	// gateway: config: gateway.yaml: key "gateway": validation failed: gateway: invalid routes: routes[0].match.methods[0]: "get": want an upper-case method such as GET
	// gateway: invalid routes: routes[0].target.urls[0]: "http://127.0.0.1:8080/api": want scheme://host:port alone (use rewrite for the path)
}

func ExampleGateway() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream got %s", r.URL.Path)
	}))
	defer upstream.Close()

	c, err := gateway.Parse([]byte(fmt.Sprintf(`
gateway:
  routes:
    - name: orders
      match: {path: {template: "/api/orders/{id}"}}
      target: {urls: [%q]}
      rewrite: {path: "/orders/{id}"}
`, upstream.URL)))
	if err != nil {
		panic(err)
	}
	g, err := gateway.New(gateway.WithoutTelemetry())
	if err != nil {
		panic(err)
	}
	defer g.Close()
	if err := g.Apply(c); err != nil {
		panic(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()

	for _, path := range []string{"/api/orders/42", "/api/items"} {
		resp, err := http.Get(front.URL + path)
		if err != nil {
			panic(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(b))
	}
	http.DefaultClient.CloseIdleConnections()
	// Output:
	// 200 upstream got /orders/42
	// 404 {"code":"NOT_FOUND","message":"no route for GET /api/items","details":[]}
}

func ExampleWithMiddleware() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tenant %s", r.Header.Get("X-Tenant"))
	}))
	defer upstream.Close()

	// Middleware is Go: here it derives a header from the route, once per route set.
	tenant := func(route string, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set("X-Tenant", route)
			next.ServeHTTP(w, r)
		})
	}
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithMiddleware(tenant))
	if err != nil {
		panic(err)
	}
	defer g.Close()
	c, err := gateway.Parse([]byte(fmt.Sprintf(`
gateway:
  routes:
    - {name: acme, match: {host: acme.example.com, path: {prefix: /}}, target: {urls: [%q]}}
`, upstream.URL)))
	if err != nil {
		panic(err)
	}
	if err := g.Apply(c); err != nil {
		panic(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()

	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "acme.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	fmt.Println(string(b))
	// Output: tenant acme
}
