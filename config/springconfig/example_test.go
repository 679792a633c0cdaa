package springconfig_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/springconfig"
)

// A Config over a Config Server's answer: orders-dev.yml wins over application.yml, and the
// flat keys the server sends are nested again, so a struct binds as from a YAML file.
func Example() {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What a Config Server answers at /orders/dev (here, under the prefix /config).
		_, _ = io.WriteString(w, `{"name":"orders","profiles":["dev"],"label":null,"version":null,"state":null,
		  "propertySources":[
		    {"name":"file:/srv/config/orders-dev.yml","source":{"db.hosts[0]":"db-dev","db.pool":4}},
		    {"name":"file:/srv/config/application.yml","source":{"db.hosts[0]":"db","db.hosts[1]":"db2","db.timeout":"2s"}}]}`)
	}))
	defer server.Close()

	src, err := springconfig.New([]string{server.URL + "/config"}, "orders", springconfig.WithProfiles("dev"))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	cfg, err := config.New(ctx, []config.Source{src})
	if err != nil {
		panic(err)
	}
	defer cfg.Close()
	var db struct {
		Hosts   []string
		Pool    int
		Timeout string
	}
	if err := cfg.ScanKey("db", &db); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", db)
	// Output: {Hosts:[db-dev] Pool:4 Timeout:2s}
}

// Settings that cannot work are refused before any request.
func ExampleNew() {
	_, err := springconfig.New([]string{"config:8888"}, "orders")
	fmt.Println(errors.Is(err, springconfig.ErrInvalidConfig))
	// Output: true
}
