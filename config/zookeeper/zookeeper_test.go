package zookeeper_test

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// zkStore writes config documents as nodes under dir.
type zkStore struct {
	conn *zk.Conn
	dir  string
}

func (s zkStore) Put(_ context.Context, name string, data []byte) error {
	p := s.dir + "/" + name
	for i := 1; i <= len(s.dir); i++ {
		if i < len(s.dir) && s.dir[i] != '/' {
			continue
		}
		if _, err := s.conn.Create(s.dir[:i], nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err := s.conn.Create(p, data, 0, zk.WorldACL(zk.PermAll))
	if errors.Is(err, zk.ErrNodeExists) {
		_, err = s.conn.Set(p, data, -1)
	}
	return err
}

func (s zkStore) Delete(_ context.Context, name string) error {
	err := s.conn.Delete(s.dir+"/"+name, -1)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return err
}

func TestTreeConformance(t *testing.T) {
	srv := zkServer.Get(t)
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := "/config-" + registrytest.ServiceName(t)
			src, err := zkconfig.Tree(open(t, srv.Addr), dir)
			if err != nil {
				t.Fatal(err)
			}
			return src, zkStore{conn: rawConn(t, srv.Addr), dir: dir}
		},
		Names:   []string{"a.yaml", "b.yaml"},
		Timeout: 20 * time.Second,
	})
}

func TestNodeConformance(t *testing.T) {
	srv := zkServer.Get(t)
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := "/config-" + registrytest.ServiceName(t)
			src, err := zkconfig.Node(open(t, srv.Addr), path.Join(dir, "app.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			return src, zkStore{conn: rawConn(t, srv.Addr), dir: dir}
		},
		Names:   []string{"app.yaml"},
		Timeout: 20 * time.Second,
	})
}

func TestRejectsBadPaths(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr)
	for _, p := range []string{"", "config", "/config/", "/a//b"} {
		if _, err := zkconfig.Node(r, p); !errors.Is(err, zkconfig.ErrInvalidConfig) || !errors.Is(err, zookeeper.ErrInvalidConfig) {
			t.Errorf("Node(%q) = %v, want ErrInvalidConfig (of both packages)", p, err)
		}
		if _, err := zkconfig.Tree(r, p); !errors.Is(err, zkconfig.ErrInvalidConfig) {
			t.Errorf("Tree(%q) = %v, want ErrInvalidConfig", p, err)
		}
	}
}

// Config errors name a source by its String; without one they would say
// "source 1 (*zookeeper.Source)".
func TestConfigErrorsNameTheNode(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr)
	node, err := zkconfig.Node(r, "/config/orders/app.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := zkconfig.Tree(r, "/config/orders")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Close() // every Load now fails, and the error names the source
	for src, want := range map[config.Source]string{node: "zookeeper /config/orders/app.yaml", tree: "zookeeper /config/orders/*"} {
		_, err := config.New(ctxFor(t), []config.Source{src})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config.New over a closed session = %v, want an error naming %q", err, want)
		}
	}
}

// Put writes into the source's node (creating parents), and refuses nodes outside it.
func TestPut(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr)
	dir := "/config-" + registrytest.ServiceName(t) + "/deep"
	src, err := zkconfig.Tree(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Put(ctxFor(t), dir+"/app.yaml", []byte("v: 1\n")); err != nil {
		t.Fatal(err)
	}
	docs, err := src.Load(ctxFor(t))
	if err != nil || len(docs) != 1 || string(docs[0].Data) != "v: 1\n" {
		t.Fatalf("Load after Put = %v, %v", docs, err)
	}
	if err := src.Put(ctxFor(t), "/elsewhere/app.yaml", []byte("v: 1\n")); !errors.Is(err, zkconfig.ErrInvalidConfig) {
		t.Errorf("Put outside the source = %v, want ErrInvalidConfig", err)
	}
}
