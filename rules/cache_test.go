package rules_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/rules"
)

// A consumer that starts while etcd is down starts with the rules it cached on its last
// run, and follows etcd once it is back; without the cache it cannot start.
func TestWatchStartsFromTheCacheWhileEtcdIsDown(t *testing.T) {
	srv := testenv.StartEtcd(t)
	admin := etcdClient(t, srv.Endpoint)
	cache := filepath.Join(t.TempDir(), "rules.json")
	put(t, admin, docTimeout("3s"))
	first := watchEtcd(t, srv.Endpoint, rules.WithCache(cache))
	if timeoutOf(first) != 3*time.Second {
		t.Fatalf("timeout %v, want 3s", timeoutOf(first))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("no cache written: %v", err)
	}

	srv.Kill()
	start := func(opts ...rules.WatchOption) (*rules.Store, error) {
		src, err := etcdconfig.New(etcdClient(t, srv.Endpoint), etcdKey,
			etcdconfig.WithRetry(50*time.Millisecond, 500*time.Millisecond), etcdconfig.WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return rules.Watch(ctx, []config.Source{src}, append([]rules.WatchOption{rules.WithLogger(quiet())}, opts...)...)
	}
	if s, err := start(); err == nil {
		_ = s.Close()
		t.Fatal("Watch started with etcd down and no cache")
	}
	s, err := start(rules.WithCache(cache))
	if err != nil {
		t.Fatalf("Watch with etcd down and a cache: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if timeoutOf(s) != 3*time.Second {
		t.Fatalf("started with timeout %v, want the cached 3s", timeoutOf(s))
	}

	srv.Start(t)
	put(t, admin, docTimeout("4s"))
	eventually(t, "the store follows etcd once it is back", func() bool { return timeoutOf(s) == 4*time.Second })
	eventually(t, "the cache holds the new rules", func() bool {
		b, _ := os.ReadFile(cache)
		return strings.Contains(string(b), "4000000000")
	})
}

// The cache stands in for sources that cannot be read, not for a bad document or a bad
// cache.
func TestWatchTakesTheCacheOnlyForUnreadableSources(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "rules.json")
	path := filepath.Join(dir, "rules.yaml")
	writeFile(t, path, docTimeout("3s"))
	ctx := context.Background()
	s, err := rules.Watch(ctx, []config.Source{file.New(path)}, rules.WithCache(cache), rules.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	for doc, want := range map[string]error{docTimeout("-3s"): rules.ErrInvalid, "rules: [": config.ErrSyntax} {
		writeFile(t, path, doc)
		if s, err := rules.Watch(ctx, []config.Source{file.New(path)}, rules.WithCache(cache), rules.WithLogger(quiet())); !errors.Is(err, want) {
			if s != nil {
				_ = s.Close()
			}
			t.Fatalf("document %q with a cache: %v, want %v, not the cached rules", doc, err, want)
		}
	}

	// A source that cannot be read, and a cache that is not a rules document: an error
	// naming the cache.
	if err := os.WriteFile(cache, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := rules.Watch(ctx, []config.Source{downSource{}}, rules.WithCache(cache), rules.WithLogger(quiet())); err == nil || !strings.Contains(err.Error(), cache) {
		if s != nil {
			_ = s.Close()
		}
		t.Fatalf("an unreadable source and a bad cache: %v, want an error naming %s", err, cache)
	}
	if _, err := rules.Watch(ctx, nil, rules.WithCache("")); !errors.Is(err, rules.ErrOption) {
		t.Errorf("WithCache(\"\"): %v, want ErrOption", err)
	}
}

// downSource is a config center that cannot be reached.
type downSource struct{}

func (downSource) Load(context.Context) ([]config.Document, error) {
	return nil, errors.New("connection refused")
}

func (downSource) Watch(context.Context) (config.Watcher, error) {
	return nil, errors.New("connection refused")
}

func (downSource) String() string { return "down" }
