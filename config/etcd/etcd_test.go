package etcd_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// kvStore writes the suite's documents as keys under a root.
type kvStore struct {
	cli  *clientv3.Client
	root string
}

func (s kvStore) Put(ctx context.Context, name string, data []byte) error {
	_, err := s.cli.Put(ctx, s.root+name, string(data))
	return err
}

func (s kvStore) Delete(ctx context.Context, name string) error {
	_, err := s.cli.Delete(ctx, s.root+name)
	return err
}

func TestConformance(t *testing.T) {
	srv := testenv.StartEtcd(t)
	admin := rawClient(t, srv.Endpoint)
	openSource := func(t *testing.T, key string) config.Source {
		cli := rawClient(t, srv.Endpoint)
		// Connect before the suite counts goroutines: the client's connection outlives a
		// watcher, as it does for a client made by Dial or a Registry.
		if _, err := cli.Get(ctxFor(t), key); err != nil {
			t.Fatal(err)
		}
		src, err := etcdconfig.New(cli, key, fast(t)...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return src
	}
	t.Run("OverAPrefix", func(t *testing.T) {
		configtest.Run(t, configtest.Harness{
			Open: func(t *testing.T) (config.Source, configtest.Store) {
				root := "/configtest/" + registrytest.ServiceName(t) + "/"
				return openSource(t, root), kvStore{admin, root}
			},
			Names: []string{"a.yaml", "b.yaml"},
		})
	})
	t.Run("OverOneKey", func(t *testing.T) {
		configtest.Run(t, configtest.Harness{
			Open: func(t *testing.T) (config.Source, configtest.Store) {
				root := "/configtest/" + registrytest.ServiceName(t) + "/"
				return openSource(t, root+"app.yaml"), kvStore{admin, root}
			},
			Names: []string{"app.yaml"},
		})
	})
}

func TestNewRejectsWhatCannotWork(t *testing.T) {
	cli := rawClient(t, "127.0.0.1:1")
	for name, c := range map[string]struct {
		cli  *clientv3.Client
		key  string
		opts []etcdconfig.Option
	}{
		"no client":      {nil, "/k", nil},
		"empty key":      {cli, "", nil},
		"retry base 0":   {cli, "/k", []etcdconfig.Option{etcdconfig.WithRetry(0, time.Second)}},
		"retry max<base": {cli, "/k", []etcdconfig.Option{etcdconfig.WithRetry(time.Second, time.Millisecond)}},
		"read timeout 0": {cli, "/k", []etcdconfig.Option{etcdconfig.WithReadTimeout(0)}},
	} {
		if _, err := etcdconfig.New(c.cli, c.key, c.opts...); !errors.Is(err, etcdconfig.ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
}

// A server that cannot be reached is an error wrapping registry.ErrUnavailable, and config
// errors name the source by its String, not "source 0 (*etcd.Source)".
func TestUnreachableServerIsUnavailableAndNamed(t *testing.T) {
	port := testenv.FreePort(t)
	src, err := etcdconfig.New(rawClient(t, "127.0.0.1:"+strconv.Itoa(port)), "/config/orders.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := src.Load(ctx); !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("Load = %v, want ErrUnavailable", err)
	}
	_, err = config.New(ctx, []config.Source{src})
	if err == nil || !strings.Contains(err.Error(), "etcd /config/orders.yaml") {
		t.Errorf("config.New = %v, want an error naming etcd /config/orders.yaml", err)
	}
}

// Close leaves the caller's client open, unless CloseClient says the source owns it.
func TestCloseClosesOnlyAnOwnedClient(t *testing.T) {
	srv := testenv.StartEtcd(t)
	cli := rawClient(t, srv.Endpoint)
	src, err := etcdconfig.New(cli, "/k")
	if err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	if _, err := cli.Get(ctxFor(t), "/k"); err != nil {
		t.Fatalf("the caller's client after Close: %v", err)
	}
	owned := rawClient(t, srv.Endpoint)
	src, err = etcdconfig.New(owned, "/k", etcdconfig.CloseClient())
	if err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	if _, err := owned.Get(ctxFor(t), "/k"); err == nil {
		t.Fatal("an owned client still works after Close")
	}
}
