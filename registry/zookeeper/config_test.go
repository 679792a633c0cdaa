package zookeeper_test

import (
	"context"
	"errors"
	"path"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
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

func TestConfigTreeConformance(t *testing.T) {
	srv := zkServer.Get(t)
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := "/config-" + registrytest.ServiceName(t)
			src, err := open(t, srv.Addr).ConfigTree(dir)
			if err != nil {
				t.Fatal(err)
			}
			return src, zkStore{conn: rawConn(t, srv.Addr), dir: dir}
		},
		Names:   []string{"a.yaml", "b.yaml"},
		Timeout: 20 * time.Second,
	})
}

func TestConfigNodeConformance(t *testing.T) {
	srv := zkServer.Get(t)
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := "/config-" + registrytest.ServiceName(t)
			src, err := open(t, srv.Addr).ConfigNode(path.Join(dir, "app.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			return src, zkStore{conn: rawConn(t, srv.Addr), dir: dir}
		},
		Names:   []string{"app.yaml"},
		Timeout: 20 * time.Second,
	})
}

func TestConfigWatchSurvivesSessionExpiry(t *testing.T) {
	srv := zkServer.Get(t)
	sniff := &sessionSniffer{}
	r := open(t, srv.Addr, zookeeper.WithDialer(sniff.dial))
	dir := "/config-" + registrytest.ServiceName(t)
	st := zkStore{conn: rawConn(t, srv.Addr), dir: dir}
	if err := st.Put(ctxFor(t), "app.yaml", []byte("v: 1\n")); err != nil {
		t.Fatal(err)
	}
	src, err := r.ConfigTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := src.Watch(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	if docs, err := w.Next(ctxFor(t)); err != nil || len(docs) != 1 || string(docs[0].Data) != "v: 1\n" {
		t.Fatalf("first Next = %v, %v", docs, err)
	}
	expire(t, srv.Addr, r, sniff)
	eventually(t, recoveryBound, "a new session", func() bool { return r.Healthy() })
	if err := st.Put(ctxFor(t), "app.yaml", []byte("v: 2\n")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), recoveryBound)
	defer cancel()
	for {
		docs, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("no v: 2 after the session expired: %v", err)
		}
		if len(docs) == 1 && string(docs[0].Data) == "v: 2\n" {
			return
		}
	}
}

func TestConfigSourceRejectsBadPaths(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr)
	for _, p := range []string{"", "config", "/config/", "/a//b"} {
		if _, err := r.ConfigNode(p); !errors.Is(err, zookeeper.ErrInvalidConfig) {
			t.Errorf("ConfigNode(%q) = %v, want ErrInvalidConfig", p, err)
		}
	}
}
