package metadataservice_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
)

// syncBuffer is a log sink the cache's goroutines and the test share.
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

func appInstance(host, rev string) dubbo.AppInstance {
	return dubbo.AppInstance{App: app, ID: host + ":1", Host: host, Port: 1, Metadata: map[string]string{dubbo.MetaRevision: rev}}
}

// fakeFetch answers from infos by revision, counts calls per revision, and fails for the
// hosts in failing.
type fakeFetch struct {
	mu      sync.Mutex
	calls   map[string]int
	failing map[string]bool
}

func (f *fakeFetch) fetch(_ context.Context, in dubbo.AppInstance) (dubbo.MetadataInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[in.Revision()]++
	if f.failing[in.Host] {
		return dubbo.MetadataInfo{}, errors.New("connection refused")
	}
	return metadataservice.FromProto(info(in.Revision())), nil
}

func (f *fakeFetch) count(rev string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[rev]
}

func (f *fakeFetch) setFailing(host string, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing[host] = failing
}

func newCache(t *testing.T, opts ...metadataservice.CacheOption) *metadataservice.Cache {
	t.Helper()
	c, err := metadataservice.NewCache(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// resolveUntil calls Resolve after each notification until ok says the lookup is right.
func resolveUntil(t *testing.T, c *metadataservice.Cache, ins []dubbo.AppInstance, ok func(dubbo.MetadataLookup, bool) bool) {
	t.Helper()
	kick := make(chan struct{}, 1)
	notify := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		lookup, pending := c.Resolve(app, ins, notify)
		if ok(lookup, pending) {
			return
		}
		select {
		case <-kick:
		case <-deadline:
			t.Fatal("the cache did not get there within 10 s")
		}
	}
}

func has(lookup dubbo.MetadataLookup, rev string) bool {
	_, ok := lookup(app, rev)
	return ok
}

// Instances of one revision share one fetch; a new revision is fetched when an instance
// announces it.
func TestCacheFetchesEachRevisionOnce(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, failing: map[string]bool{}}
	c := newCache(t, metadataservice.WithFetchFunc(f.fetch))
	a, b := appInstance("10.0.0.1", "r1"), appInstance("10.0.0.2", "r1")
	resolveUntil(t, c, []dubbo.AppInstance{a, b}, func(l dubbo.MetadataLookup, _ bool) bool { return has(l, "r1") })
	resolveUntil(t, c, []dubbo.AppInstance{a, b}, func(l dubbo.MetadataLookup, _ bool) bool { return has(l, "r1") })
	if n := f.count("r1"); n != 1 {
		t.Errorf("r1 fetched %d times, want once", n)
	}
	b = appInstance("10.0.0.2", "r2")
	resolveUntil(t, c, []dubbo.AppInstance{a, b}, func(l dubbo.MetadataLookup, _ bool) bool { return has(l, "r1") && has(l, "r2") })
	if n1, n2 := f.count("r1"), f.count("r2"); n1 != 1 || n2 != 1 {
		t.Errorf("fetched r1 %d, r2 %d times; want once each", n1, n2)
	}
	if m, ok := c.Get(app, "r2"); !ok || m.App != app || len(m.Services) != 1 {
		t.Errorf("Get(r2) = %+v, %v", m, ok)
	}
	if _, ok := c.Get("other", "r2"); ok {
		t.Error("Get of another application's revision found something")
	}
}

// A failing fetch is reported once through notify (the caller stops waiting), logged once
// however often it is retried, and its instances are served once it answers.
func TestCacheRetriesAFailingFetch(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, failing: map[string]bool{"10.0.0.1": true}}
	var logs syncBuffer
	c := newCache(t, metadataservice.WithFetchFunc(f.fetch), metadataservice.WithRetry(time.Millisecond, 5*time.Millisecond),
		metadataservice.WithCacheLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	a := appInstance("10.0.0.1", "r1")
	resolveUntil(t, c, []dubbo.AppInstance{a}, func(l dubbo.MetadataLookup, pending bool) bool { return !pending && !has(l, "r1") })
	for f.count("r1") < 5 {
		time.Sleep(time.Millisecond)
	}
	if n := strings.Count(logs.String(), "cannot fetch"); n != 1 {
		t.Errorf("%d warnings for one failing provider, want 1:\n%s", n, logs.String())
	}
	f.setFailing("10.0.0.1", false)
	resolveUntil(t, c, []dubbo.AppInstance{a}, func(l dubbo.MetadataLookup, _ bool) bool { return has(l, "r1") })
}

// Another instance of the same revision answers for one that does not.
func TestCacheAsksAnotherInstanceOfTheRevision(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, failing: map[string]bool{"10.0.0.1": true}}
	c := newCache(t, metadataservice.WithFetchFunc(f.fetch), metadataservice.WithRetry(time.Millisecond, 5*time.Millisecond),
		metadataservice.WithCacheLogger(slog.New(slog.DiscardHandler)))
	ins := []dubbo.AppInstance{appInstance("10.0.0.1", "r1"), appInstance("10.0.0.2", "r1")}
	resolveUntil(t, c, ins, func(l dubbo.MetadataLookup, _ bool) bool { return has(l, "r1") })
}

// A revision nobody announces any more is no longer fetched.
func TestCacheStopsFetchingARevisionGone(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, failing: map[string]bool{"10.0.0.1": true}}
	c := newCache(t, metadataservice.WithFetchFunc(f.fetch), metadataservice.WithRetry(time.Millisecond, 2*time.Millisecond),
		metadataservice.WithCacheLogger(slog.New(slog.DiscardHandler)))
	c.Resolve(app, []dubbo.AppInstance{appInstance("10.0.0.1", "r1")}, func() {})
	for f.count("r1") < 2 {
		time.Sleep(time.Millisecond)
	}
	c.Resolve(app, nil, func() {})
	time.Sleep(20 * time.Millisecond) // let a fetch under way finish
	n := f.count("r1")
	time.Sleep(100 * time.Millisecond)
	if m := f.count("r1"); m != n {
		t.Errorf("r1 fetched %d more times after its last instance left", m-n)
	}
}

func TestCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, failing: map[string]bool{}}
	c := newCache(t, metadataservice.WithFetchFunc(f.fetch), metadataservice.WithCacheSize(2))
	for _, rev := range []string{"r1", "r2", "r1", "r3"} {
		ins := []dubbo.AppInstance{appInstance("10.0.0.1", rev)}
		resolveUntil(t, c, ins, func(l dubbo.MetadataLookup, _ bool) bool { return has(l, rev) })
	}
	_, ok1 := c.Get(app, "r1")
	_, ok2 := c.Get(app, "r2")
	_, ok3 := c.Get(app, "r3")
	if !ok1 || ok2 || !ok3 {
		t.Errorf("kept r1 %v r2 %v r3 %v; want r1 and r3 (r2 least recently used)", ok1, ok2, ok3)
	}
}

func TestNewCacheRefusesBadOptions(t *testing.T) {
	for _, o := range []metadataservice.CacheOption{
		metadataservice.WithFetchFunc(nil),
		metadataservice.WithCacheSize(0),
		metadataservice.WithRetry(0, time.Second),
		metadataservice.WithRetry(time.Second, time.Millisecond),
	} {
		if _, err := metadataservice.NewCache(o); !errors.Is(err, metadataservice.ErrInvalidCacheOption) {
			t.Errorf("NewCache = %v, want ErrInvalidCacheOption", err)
		}
	}
}

// FetchFrom dials the port the instance's url-params name, over TCP on loopback.
func TestFetchFromAServingProvider(t *testing.T) {
	var st metadataservice.Store
	if err := st.Put(info("rev-1")); err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	metadataservice.Register(s, &st)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(lis) }()
	defer func() { s.Stop(); <-done }()
	port := lis.Addr().(*net.TCPAddr).Port
	in, err := dubbo.NewAppInstance(app, "127.0.0.1", port, "rev-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := metadataservice.FetchFrom(ctxFor(t), in)
	if err != nil {
		t.Fatal(err)
	}
	s1 := m.Services["interop/tianshu.interop.v1.Greeter:1.0.0:tri"]
	if m.App != app || s1.Port != 20880 || s1.Group != "interop" || s1.Params["methods"] != "Greet" {
		t.Errorf("FetchFrom = %+v", m)
	}
	in.Metadata[dubbo.MetaVersion] = "1.0.0"
	if _, err := metadataservice.FetchFrom(ctxFor(t), in); !errors.Is(err, dubbo.ErrUnsupportedMetadata) {
		t.Errorf("FetchFrom of a v1-only instance = %v, want ErrUnsupportedMetadata", err)
	}
	in.Metadata[dubbo.MetaVersion] = "2.0.0"
	in.Metadata[dubbo.MetaRevision] = "rev-2"
	if _, err := metadataservice.FetchFrom(ctxFor(t), in); !errors.Is(err, metadataservice.ErrUnknownRevision) {
		t.Errorf("FetchFrom of an unknown revision = %v, want ErrUnknownRevision", err)
	}
}

// The cache calls notify from its own goroutines; many callers at once are safe.
func TestCacheConcurrentResolve(t *testing.T) {
	f := &fakeFetch{calls: map[string]int{}, failing: map[string]bool{}}
	c := newCache(t, metadataservice.WithFetchFunc(f.fetch))
	var wg sync.WaitGroup
	var notified atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rev := "r" + strconv.Itoa(i%3)
			c.Resolve(app, []dubbo.AppInstance{appInstance("10.0.0.1", rev)}, func() { notified.Add(1) })
		}()
	}
	wg.Wait()
}

// A registry backend hands the cache an application's instances whenever they change, and
// calls Resolve again when notified; here the fetch is a stand-in for a provider's
// MetadataServiceV2.
func ExampleCache() {
	m := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "org.example.Greeter", Version: "1.0.0",
		Protocol: "tri", Port: 50051, Path: "org.example.Greeter"})
	fetch := func(_ context.Context, in dubbo.AppInstance) (dubbo.MetadataInfo, error) { return m, nil }
	c, err := metadataservice.NewCache(metadataservice.WithFetchFunc(fetch))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	in := dubbo.AppInstance{App: "greeter", ID: "10.0.0.7:50051", Host: "10.0.0.7", Port: 50051,
		Metadata: map[string]string{dubbo.MetaRevision: m.Revision()}}
	fetched := make(chan struct{}, 1)
	_, pending := c.Resolve("greeter", []dubbo.AppInstance{in}, func() { fetched <- struct{}{} })
	fmt.Println("pending:", pending)
	<-fetched
	lookup, _ := c.Resolve("greeter", []dubbo.AppInstance{in}, func() {})
	list, _ := dubbo.ResolveInstances("org.example.Greeter", []dubbo.AppInstance{in}, lookup)
	fmt.Println(list[0].ID, list[0].Endpoints[0])
	// Output:
	// pending: true
	// 10.0.0.7:50051@:1.0.0 tri://10.0.0.7:50051
}

// ToProto and FromProto carry every field of every service, and the revision survives.
func TestToProtoRoundTrips(t *testing.T) {
	md := dubbo.NewMetadataInfo("greeter",
		dubbo.ServiceInfo{Name: "a.B", Group: "g", Version: "1", Protocol: "tri", Port: 50051, Path: "a.B", Params: map[string]string{"warmup": "0"}},
		dubbo.ServiceInfo{Name: "c.D", Protocol: "tri", Port: 50051, Path: "c.D"})
	pb := metadataservice.ToProto(md, md.Revision())
	if pb.GetVersion() != md.Revision() {
		t.Errorf("version %q, want the revision %q", pb.GetVersion(), md.Revision())
	}
	back := metadataservice.FromProto(pb)
	if !reflect.DeepEqual(back, md) || back.Revision() != md.Revision() {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, md)
	}
}
