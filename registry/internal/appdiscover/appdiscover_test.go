package appdiscover_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/internal/appdiscover"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const iface = "x.Svc"

// fakeBackend hands the Discoverer what a test sets, as a registry backend would.
type fakeBackend struct {
	mu       sync.Mutex
	mappings map[string]func([]string)
	apps     map[string]func([]dubbo.AppInstance)
	appData  map[string][]dubbo.AppInstance // delivered when an application is first followed
	mapData  map[string][]string
	stopped  []string
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{mappings: map[string]func([]string){}, apps: map[string]func([]dubbo.AppInstance){},
		appData: map[string][]dubbo.AppInstance{}, mapData: map[string][]string{}}
}

func (b *fakeBackend) WatchMapping(iface string, set func([]string)) func() {
	b.mu.Lock()
	b.mappings[iface] = set
	data, ok := b.mapData[iface]
	b.mu.Unlock()
	if ok {
		set(data)
	}
	return func() {}
}

func (b *fakeBackend) WatchApp(app string, set func([]dubbo.AppInstance)) func() {
	b.mu.Lock()
	b.apps[app] = set
	data, ok := b.appData[app]
	b.mu.Unlock()
	if ok {
		set(data)
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.stopped = append(b.stopped, app)
	}
}

func (b *fakeBackend) setApp(app string, ins ...dubbo.AppInstance) {
	b.mu.Lock()
	b.appData[app] = ins
	set := b.apps[app]
	b.mu.Unlock()
	if set != nil {
		set(ins)
	}
}

func (b *fakeBackend) setMapping(apps ...string) {
	b.mu.Lock()
	b.mapData[iface] = apps
	set := b.mappings[iface]
	b.mu.Unlock()
	if set != nil {
		set(apps)
	}
}

// provider is an application serving x.Svc version v on host:port.
func provider(app, host string, port int, versions ...string) (dubbo.AppInstance, dubbo.MetadataInfo) {
	var ss []dubbo.ServiceInfo
	for _, v := range versions {
		ss = append(ss, dubbo.ServiceInfo{Name: iface, Version: v, Protocol: "tri", Port: port, Path: iface})
	}
	m := dubbo.NewMetadataInfo(app, ss...)
	return dubbo.AppInstance{App: app, ID: host, Host: host, Port: port, Metadata: map[string]string{dubbo.MetaRevision: m.Revision()}}, m
}

// fetcher answers from the metadata it was given, and fails for the hosts in down.
type fetcher struct {
	mu    sync.Mutex
	infos map[string]dubbo.MetadataInfo
	down  map[string]bool
}

func (f *fetcher) fetch(_ context.Context, in dubbo.AppInstance) (dubbo.MetadataInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[in.Host] {
		return dubbo.MetadataInfo{}, errors.New("connection refused")
	}
	m, ok := f.infos[in.Revision()]
	if !ok {
		return dubbo.MetadataInfo{}, metadataservice.ErrUnknownRevision
	}
	return m, nil
}

func (f *fetcher) add(m dubbo.MetadataInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.infos[m.Revision()] = m
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newDiscoverer(t *testing.T, b appdiscover.Backend, f *fetcher, mode dubbo.DiscoveryMode, log *slog.Logger) *appdiscover.Discoverer {
	t.Helper()
	c, err := metadataservice.NewCache(metadataservice.WithFetchFunc(f.fetch), metadataservice.WithRetry(time.Millisecond, 10*time.Millisecond),
		metadataservice.WithCacheLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	d := appdiscover.New(b, mode, c, log, 10*time.Second, func() bool { return true })
	t.Cleanup(d.Close)
	return d
}

// interfaceLevel is an interface-level watch over a fixed list.
func interfaceLevel(list ...*registry.Instance) func() (registry.Watcher, error) {
	return func() (registry.Watcher, error) { return registry.NewBroadcast(list).Watch(nil), nil }
}

func ids(list []*registry.Instance) string {
	var out []string
	for _, in := range list {
		out = append(out, in.ID)
	}
	return strings.Join(out, " ")
}

func nextIDs(t *testing.T, w registry.Watcher, want string) {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		for {
			list, err := w.Next()
			if err != nil {
				done <- "stopped"
				return
			}
			if ids(list) == want {
				done <- want
				return
			}
		}
	}()
	select {
	case got := <-done:
		if got != want {
			t.Fatalf("watch %s, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the list did not become %q within 10 s", want)
	}
}

// The first list already holds the application-level providers (Watch waits for their
// metadata), merged with the interface level; a new application in the mapping and a new
// revision are followed; an application dropped from every mapping is no longer followed.
func TestWatchResolvesAndFollows(t *testing.T) {
	b, f := newFakeBackend(), &fetcher{infos: map[string]dubbo.MetadataInfo{}, down: map[string]bool{}}
	a1, m1 := provider("a", "10.0.0.1", 1, "1")
	f.add(m1)
	b.setApp("a", a1)
	b.setMapping("a")
	d := newDiscoverer(t, b, f, dubbo.DiscoverAll, slog.New(slog.DiscardHandler))
	tianshu := &registry.Instance{ID: "ts", Service: iface, Endpoints: []registry.Endpoint{{Scheme: "tri", Host: "10.0.0.9", Port: 9}}}
	w, err := d.Watch(context.Background(), iface, interfaceLevel(tianshu))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	list, err := w.Next()
	if err != nil || ids(list) != "10.0.0.1:1@:1 ts" {
		t.Fatalf("first list %q, %v; want both levels", ids(list), err)
	}

	a2, m2 := provider("b", "10.0.0.2", 2, "1", "2")
	f.add(m2)
	b.setApp("b", a2)
	b.setMapping("a", "b")
	nextIDs(t, w, "10.0.0.1:1@:1 10.0.0.2:2@:1 10.0.0.2:2@:2 ts")

	a1, m1 = provider("a", "10.0.0.1", 1, "3")
	f.add(m1)
	b.setApp("a", a1)
	nextIDs(t, w, "10.0.0.1:1@:3 10.0.0.2:2@:1 10.0.0.2:2@:2 ts")

	b.setMapping("b")
	nextIDs(t, w, "10.0.0.2:2@:1 10.0.0.2:2@:2 ts")
	b.mu.Lock()
	stopped := strings.Join(b.stopped, " ")
	b.mu.Unlock()
	if stopped != "a" {
		t.Errorf("stopped following %q, want a", stopped)
	}
}

// An instance whose metadata cannot be fetched is left out (and the first list does not
// wait for it beyond its first attempt), then listed once it answers; bad data is logged
// once however often the list is recomputed.
func TestWatchLeavesOutWhatCannotBeResolved(t *testing.T) {
	b, f := newFakeBackend(), &fetcher{infos: map[string]dubbo.MetadataInfo{}, down: map[string]bool{"10.0.0.1": true}}
	a1, m1 := provider("a", "10.0.0.1", 1, "1")
	bad, mBad := provider("a", "10.0.0.3", 3, "5")
	mBad.Services[mBad.Services[iface+":5:tri"].MatchKey()] = dubbo.ServiceInfo{Name: iface, Version: "5", Protocol: "tri", Path: iface}
	bad.Metadata[dubbo.MetaEndpoints] = "not json"
	bad.Port = 0
	bad.Metadata[dubbo.MetaRevision] = mBad.Revision()
	f.add(m1)
	f.add(mBad)
	b.setApp("a", a1, bad)
	b.setMapping("a")
	var logs syncBuffer
	d := newDiscoverer(t, b, f, dubbo.DiscoverApplication, slog.New(slog.NewTextHandler(&logs, nil)))
	w, err := d.Watch(context.Background(), iface, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if list, _ := w.Next(); len(list) != 0 {
		t.Fatalf("first list %q, want nothing resolved", ids(list))
	}
	f.mu.Lock()
	f.down = map[string]bool{}
	f.mu.Unlock()
	nextIDs(t, w, "10.0.0.1:1@:1")
	b.setApp("a", a1, bad) // the same again: a recomputation
	time.Sleep(50 * time.Millisecond)
	if n := strings.Count(logs.String(), "cannot be read"); n != 1 {
		t.Errorf("the bad instance was logged %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "cannot fetch"); n != 1 {
		t.Errorf("the failing fetch was logged %d times, want once:\n%s", n, logs.String())
	}
}

// Watch gives up waiting with ctx, with an error wrapping ErrUnavailable; Close stops the
// watchers.
func TestWatchWaitsWithinCtxAndStopsWithClose(t *testing.T) {
	b, f := newFakeBackend(), &fetcher{infos: map[string]dubbo.MetadataInfo{}, down: map[string]bool{}}
	d := newDiscoverer(t, b, f, dubbo.DiscoverAll, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Watch(ctx, iface, interfaceLevel()); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Watch with no mapping ever read = %v, want ErrUnavailable", err)
	}
	b.setMapping()
	w, err := d.Watch(context.Background(), iface, interfaceLevel())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := w.Next(); !errors.Is(err, registry.ErrWatcherStopped) {
		t.Errorf("Next after Close = %v, want ErrWatcherStopped", err)
	}
	if _, err := d.Watch(context.Background(), iface, interfaceLevel()); !errors.Is(err, registry.ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
}
