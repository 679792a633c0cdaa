package configurl_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configurl"
	"github.com/tianshu-go/tianshu/registry"
)

func TestURLsThatNameNoSourceAreErrURL(t *testing.T) {
	for _, raw := range []string{
		"ftp://host/app.yaml",
		"file://",
		"etcd://127.0.0.1:2379",
		"etcd://127.0.0.1:2379/",
		"zookeeper://127.0.0.1:2181",
		"nacos://127.0.0.1:8848/public",
		"springconfig://127.0.0.1:8888",
		"springconfig://127.0.0.1:8888/config//",
		"springconfig://127.0.0.1:8888/orders?profiles=prod",
		"springconfig://127.0.0.1:8888/orders?poll=soon",
		"springconfig://:pw@127.0.0.1:8888/orders",
	} {
		t.Run(raw, func(t *testing.T) {
			src, closer, err := configurl.Open(context.Background(), raw)
			if !errors.Is(err, configurl.ErrURL) && !errors.Is(err, registry.ErrInvalidURL) {
				t.Fatalf("Open(%q) = %v, %v, %v; want ErrURL or registry.ErrInvalidURL", raw, src, closer, err)
			}
			t.Log(err)
		})
	}
}

func TestAPathIsAFile(t *testing.T) {
	for _, raw := range []string{"testdata/app.yaml", "file://testdata/app.yaml"} {
		src, closer, err := configurl.Open(context.Background(), raw)
		if err != nil || closer != nil {
			t.Fatalf("Open(%q) = %v, %v", raw, closer, err)
		}
		docs, err := src.Load(context.Background())
		if err != nil || len(docs) != 1 {
			t.Errorf("Open(%q).Load = %v, %v", raw, docs, err)
		}
	}
}

// TestSpringConfigURL checks what the URL becomes in the request: the path Spring's config
// client asks for, the hosts in order and the credentials. The source itself is tested
// against a real Config Server in config/springconfig.
func TestSpringConfigURL(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, _ := r.BasicAuth()
		mu.Lock()
		got = append(got, r.URL.Path+" "+user+":"+pw)
		mu.Unlock()
		_, _ = w.Write([]byte(`{"name":"orders","profiles":["prod"],"propertySources":[{"name":"orders.yml","source":{"a.b":1}}]}`))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	src, closer, err := configurl.Open(context.Background(), "springconfig://u:p@"+host+"/config/orders?profile=prod,eu&label=release/1")
	if err != nil || closer != nil {
		t.Fatalf("Open: %v, %v", closer, err)
	}
	cfg, err := config.New(context.Background(), []config.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if v, ok := cfg.Get("a.b"); !ok || v != 1 && v != float64(1) && v != int64(1) {
		t.Errorf("a.b = %v (%T), %v", v, v, ok)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || got[0] != "/config/orders/prod,eu/release(_)1 u:p" {
		t.Errorf("requests %q, want /config/orders/prod,eu/release(_)1 with u:p", got)
	}
}
