package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/tianshu-go/tianshu/rest"
)

func ExampleNewServer() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
	})
	// With tianshu.App: tianshu.New(tianshu.WithComponent(srv)).Run(ctx), and
	// rest.WithRegistrar(reg), rest.WithService("greeter") to be found in a registry.
	srv, err := rest.NewServer("127.0.0.1:0", mux, rest.WithDeregisterDelay(0))
	if err != nil {
		panic(err)
	}
	addr, err := srv.Listen(context.Background())
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()

	c := &http.Client{Transport: &http.Transport{}}
	for _, path := range []string{"/hello/world", "/goodbye"} {
		resp, err := c.Get("http://" + addr.String() + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		fmt.Printf("%d %s", resp.StatusCode, body)
	}
	c.CloseIdleConnections()
	if err := srv.Shutdown(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println("serve:", <-done)
	// Output:
	// 200 hello, world
	// 404 {"code":"NOT_FOUND","message":"no route for GET /goodbye","details":[]}
	// serve: <nil>
}
