package zookeeper_test

import (
	"context"
	"errors"
	"path"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/config"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// The config sources live in config/zookeeper (tested there); they read through a
// Registry's session, and this test, which has the tools to expire one, checks that their
// watches come back in the new session.
func TestConfigWatchSurvivesSessionExpiry(t *testing.T) {
	srv := zkServer.Get(t)
	sniff := &sessionSniffer{}
	r := open(t, srv.Addr, zookeeper.WithDialer(sniff.dial))
	dir := "/config-" + registrytest.ServiceName(t)
	conn := rawConn(t, srv.Addr)
	if err := putNode(conn, dir+"/app.yaml", []byte("v: 1\n")); err != nil {
		t.Fatal(err)
	}
	src, err := zkconfig.Tree(r, dir)
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
	if err := putNode(conn, dir+"/app.yaml", []byte("v: 2\n")); err != nil {
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

// The names the sources had here stay for one release, as the same types.
func TestDeprecatedConfigNamesStillWork(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr)
	dir := "/config-" + registrytest.ServiceName(t)
	if err := putNode(rawConn(t, srv.Addr), dir+"/app.conf", []byte("v: 1\n")); err != nil {
		t.Fatal(err)
	}
	var src *zkconfig.Source
	src, err := r.ConfigTree(dir, zookeeper.WithConfigFormat(config.YAML)) //nolint:staticcheck // the deprecated name under test
	if err != nil {
		t.Fatal(err)
	}
	docs, err := src.Load(ctxFor(t))
	if err != nil || len(docs) != 1 || docs[0].Format != config.YAML {
		t.Fatalf("Load = %v, %v; want app.conf as YAML", docs, err)
	}
	if _, err := r.ConfigNode(path.Join(dir, "app.conf")); err != nil { //nolint:staticcheck // the deprecated name under test
		t.Fatal(err)
	}
	if _, err := r.ConfigNode("config"); !errors.Is(err, zookeeper.ErrInvalidConfig) { //nolint:staticcheck // the deprecated name under test
		t.Errorf("ConfigNode(config) = %v, want ErrInvalidConfig", err)
	}
}

// putNode sets the data of the node at p, creating it and its parents where missing.
func putNode(c *zk.Conn, p string, data []byte) error {
	for q := range len(p) {
		if q > 0 && p[q] == '/' {
			if _, err := c.Create(p[:q], nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return err
			}
		}
	}
	_, err := c.Create(p, data, 0, zk.WorldACL(zk.PermAll))
	if errors.Is(err, zk.ErrNodeExists) {
		_, err = c.Set(p, data, -1)
	}
	return err
}
