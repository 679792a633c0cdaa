package etcd_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
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

func TestConfigSourceConformance(t *testing.T) {
	srv := testenv.StartEtcd(t)
	admin := rawClient(t, srv.Endpoint)
	openSource := func(t *testing.T, key string) config.Source {
		log, _ := newLog(t)
		src, err := etcd.NewConfigSource(context.Background(), []string{srv.Endpoint}, key, fast(log)...)
		if err != nil {
			t.Fatalf("NewConfigSource: %v", err)
		}
		t.Cleanup(func() { _ = src.Close() })
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

func TestConfigSourceRecoversFromCompactionWhileCutOff(t *testing.T) {
	srv := testenv.StartEtcd(t)
	px := newProxy(t, srv.Addr)
	admin := rawClient(t, srv.Endpoint)
	log, _ := newLog(t)
	root := "/config/" + registrytest.ServiceName(t) + "/"
	src, err := etcd.NewConfigSource(ctxFor(t), []string{"http://" + px.addr}, root, fast(log)...)
	if err != nil {
		t.Fatalf("NewConfigSource: %v", err)
	}
	defer src.Close()
	w, err := src.Watch(ctxFor(t))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Stop()
	if docs, err := w.Next(ctxFor(t)); err != nil || len(docs) != 0 {
		t.Fatalf("first Next = %v, %v; want an empty snapshot", docs, err)
	}
	px.cut()
	for _, k := range []string{"a.yaml", "b.yaml"} {
		if _, err := admin.Put(ctxFor(t), root+k, "k: "+k); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := admin.Delete(ctxFor(t), root+"a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Compact(ctxFor(t), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	px.restore()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		docs, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(docs) == 1 && docs[0].Name == root+"b.yaml" {
			return
		}
	}
}

func TestConfigSourceErrors(t *testing.T) {
	if _, err := etcd.NewConfigSource(context.Background(), []string{"127.0.0.1:1"}, ""); !errors.Is(err, etcd.ErrInvalidConfig) {
		t.Errorf("NewConfigSource with no key = %v, want ErrInvalidConfig", err)
	}
	port := testenv.FreePort(t)
	_, err := etcd.NewConfigSource(context.Background(), []string{"127.0.0.1:" + strconv.Itoa(port)}, "/k", etcd.WithDialTimeout(300*time.Millisecond))
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("NewConfigSource on a closed port = %v, want ErrUnavailable", err)
	}
}
