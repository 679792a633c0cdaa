package rpc_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

// failingDiscovery hands out watchers whose Next fails at once, as a backend that lost its
// connection might, and counts the calls.
type failingDiscovery struct{ nexts atomic.Int64 }

func (d *failingDiscovery) GetService(context.Context, string) ([]*registry.Instance, error) {
	return nil, registry.ErrUnavailable
}

func (d *failingDiscovery) Watch(context.Context, string) (registry.Watcher, error) {
	return &failingWatcher{d: d}, nil
}

type failingWatcher struct {
	d       *failingDiscovery
	stopped atomic.Bool
}

func (w *failingWatcher) Next() ([]*registry.Instance, error) {
	if w.stopped.Load() {
		return nil, registry.ErrWatcherStopped
	}
	w.d.nexts.Add(1)
	return nil, errors.New("connection lost")
}

func (w *failingWatcher) Stop() error { w.stopped.Store(true); return nil }

func TestResolverBacksOffWhenTheWatcherFailsAtOnce(t *testing.T) {
	d := &failingDiscovery{}
	start := time.Now()
	conn, err := rpc.Dial(context.Background(), "tianshu:///orders", rpc.WithDiscovery(d), rpc.WithDialLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	conn.Connect() // the resolver starts when the channel leaves idle
	time.Sleep(time.Second)
	n := d.nexts.Load()
	took := time.Since(start)
	_ = conn.Close()
	// The resolver retries the watcher with backoff.Default: within a second, 5 calls at most.
	if most := backoff.Default.MaxTries(took); n > int64(most) || n < 1 {
		t.Errorf("Next was called %d times in %v; backoff.Default allows 1 to %d", n, took, most)
	}
}
