package etcd_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// The config sources live in config/etcd (tested there); this test, which has the proxy to
// cut a client off, checks that a watcher over a client from Dial recovers from a
// compaction it missed.
func TestConfigSourceRecoversFromCompactionWhileCutOff(t *testing.T) {
	srv := testenv.StartEtcd(t)
	px := newProxy(t, srv.Addr)
	admin := rawClient(t, srv.Endpoint)
	log, _ := newLog(t)
	root := "/config/" + registrytest.ServiceName(t) + "/"
	cli, err := etcd.Dial(ctxFor(t), []string{"http://" + px.addr}, fast(log)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	src, err := etcdconfig.New(cli, root, etcdconfig.CloseClient(),
		etcdconfig.WithRetry(50*time.Millisecond, fastRetryMax), etcdconfig.WithLogger(log))
	if err != nil {
		t.Fatal(err)
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

func TestDialErrors(t *testing.T) {
	if _, err := etcd.Dial(context.Background(), nil); !errors.Is(err, etcd.ErrInvalidConfig) {
		t.Errorf("Dial with no endpoint = %v, want ErrInvalidConfig", err)
	}
	port := testenv.FreePort(t)
	_, err := etcd.Dial(context.Background(), []string{"127.0.0.1:" + strconv.Itoa(port)}, etcd.WithDialTimeout(300*time.Millisecond))
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("Dial on a closed port = %v, want ErrUnavailable", err)
	}
}

// The names the sources had here stay for one release, as the same types.
func TestDeprecatedConfigNamesStillWork(t *testing.T) {
	srv := testenv.StartEtcd(t)
	r := open(t, srv)
	key := "/config/" + registrytest.ServiceName(t) + ".yaml"
	if _, err := r.Client().Put(ctxFor(t), key, "v: 1"); err != nil {
		t.Fatal(err)
	}
	var shared *etcdconfig.Source = r.ConfigSource(key) //nolint:staticcheck // the deprecated name under test
	if docs, err := shared.Load(ctxFor(t)); err != nil || len(docs) != 1 {
		t.Fatalf("Registry.ConfigSource Load = %v, %v", docs, err)
	}
	own, err := etcd.NewConfigSource(ctxFor(t), []string{srv.Endpoint}, key) //nolint:staticcheck // the deprecated name under test
	if err != nil {
		t.Fatal(err)
	}
	if docs, err := own.Load(ctxFor(t)); err != nil || len(docs) != 1 {
		t.Fatalf("NewConfigSource Load = %v, %v", docs, err)
	}
	_ = own.Close()
	if _, err := etcd.NewConfigSource(context.Background(), []string{"127.0.0.1:1"}, ""); !errors.Is(err, etcd.ErrInvalidConfig) { //nolint:staticcheck // the deprecated name under test
		t.Errorf("NewConfigSource with no key = %v, want ErrInvalidConfig", err)
	}
	port := testenv.FreePort(t)
	_, err = etcd.NewConfigSource(context.Background(), []string{"127.0.0.1:" + strconv.Itoa(port)}, "/k", etcd.WithDialTimeout(300*time.Millisecond)) //nolint:staticcheck // the deprecated name under test
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("NewConfigSource on a closed port = %v, want ErrUnavailable", err)
	}
}
