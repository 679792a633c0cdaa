package rest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rest"
)

func ExampleNewClient() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tianshu-example-")
	defer os.RemoveAll(dir)
	reg, err := file.New(ctx, dir) // the embedded registry: a directory shared on one host
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()

	// An HTTP instance of the service "greeter", registered with its http endpoint.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s%s", r.Host, r.URL.Path)
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	_ = reg.Register(ctx, &registry.Instance{ID: "greeter-1", Service: "greeter",
		Endpoints: []registry.Endpoint{{Scheme: "http", Host: host, Port: p}}})

	client, err := rest.NewClient(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	resp, err := client.Get("http://greeter/hi") // a service: resolved through the registry
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	_, err = client.Get("http://billing/invoices") // a service nobody registered
	fmt.Println(errors.Is(err, rest.ErrNoInstances))

	resp, err = client.Get(srv.URL + "/direct") // not a service: sent as usual
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// hello from greeter/hi
	// true
	// 200
}
