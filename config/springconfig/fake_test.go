package springconfig_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/springconfig"
	"github.com/tianshu-go/tianshu/registry"
)

var errUnavailable = registry.ErrUnavailable

// fakeServer answers every request with what the test last set: a status and a body.
type fakeServer struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   string
	paths  []string
}

func newFake(t *testing.T) *fakeServer {
	f := &fakeServer{status: 200, body: answer(`{"version":1}`)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status, body := f.status, f.body
		f.paths = append(f.paths, r.URL.EscapedPath())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) set(status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.body = status, body
}

func (f *fakeServer) lastPath() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		return ""
	}
	return f.paths[len(f.paths)-1]
}

// answer is a Config Server answer with one property source holding source.
func answer(source string) string {
	return `{"name":"orders","profiles":["default"],"label":null,"version":null,"state":null,` +
		`"propertySources":[{"name":"file:/srv/config/orders.yml","source":` + source + `}]}`
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestRequestPathNamesApplicationProfilesAndLabel(t *testing.T) {
	f := newFake(t)
	for _, tc := range []struct {
		opts []springconfig.Option
		want string
	}{
		{nil, "/prefix/orders/default"},
		{[]springconfig.Option{springconfig.WithProfiles("dev", "eu")}, "/prefix/orders/dev%2Ceu"},
		{[]springconfig.Option{springconfig.WithLabel("release/1.2")}, "/prefix/orders/default/release%28_%291.2"},
	} {
		src, err := springconfig.New([]string{f.URL + "/prefix/"}, "orders", tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Load(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		if got := f.lastPath(); got != tc.want {
			t.Errorf("request path %q, want %q", got, tc.want)
		}
	}
}

func TestBadAnswersAreErrBadResponse(t *testing.T) {
	f := newFake(t)
	src, err := springconfig.New([]string{f.URL}, "orders", springconfig.WithMaxBody(1000))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"500", 500, `{"error":"Internal Server Error"}`},
		{"404 of an unknown label", 404, `{"error":"Not Found"}`},
		{"malformed JSON", 200, `{"propertySources":[`},
		{"two values", 200, `{} {}`},
		{"a key both a value and a section", 200, answer(`{"a":1,"a.b":2}`)},
		{"a list without element 0", 200, answer(`{"a[1]":1}`)},
		{"an empty segment", 200, answer(`{"a..b":1}`)},
		{"too large", 200, answer(`{"a":"` + strings.Repeat("x", 1000) + `"}`)},
	} {
		f.set(tc.status, tc.body)
		_, err := src.Load(ctxFor(t))
		if !errors.Is(err, springconfig.ErrBadResponse) {
			t.Errorf("%s: Load = %v, want ErrBadResponse", tc.name, err)
		}
	}
}

func TestFailoverToTheNextServer(t *testing.T) {
	f := newFake(t)
	down := "http://" + closedAddr(t)
	broken := newFake(t)
	broken.set(503, "busy")
	src, err := springconfig.New([]string{down, broken.URL, f.URL}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := src.Load(ctxFor(t))
	if err != nil || len(docs) != 1 {
		t.Fatalf("Load past a down and a 503 server = %d documents, %v; want the third server's", len(docs), err)
	}
	// A 4xx is the answer, not the server's trouble: no failover.
	broken.set(404, "no such label")
	if _, err := src.Load(ctxFor(t)); !errors.Is(err, springconfig.ErrBadResponse) {
		t.Fatalf("Load after a 404 = %v, want ErrBadResponse from the second server", err)
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers []string
		app     string
		opts    []springconfig.Option
	}{
		{"no server", nil, "orders", nil},
		{"a server without scheme", []string{"config:8888"}, "orders", nil},
		{"a server with a query", []string{"http://config:8888/?a=b"}, "orders", nil},
		{"no application", []string{"http://config"}, "", nil},
		{"an application with a slash", []string{"http://config"}, "a/b", nil},
		{"an application list", []string{"http://config"}, "a,b", nil},
		{"no profile", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithProfiles()}},
		{"a profile with a comma", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithProfiles("a,b")}},
		{"an empty label", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithLabel("")}},
		{"a zero poll", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithPoll(0)}},
		{"a negative timeout", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithTimeout(-1)}},
		{"a backwards retry", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithRetry(time.Second, time.Millisecond)}},
		{"a nil client", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithHTTPClient(nil)}},
		{"no username", []string{"http://config"}, "orders", []springconfig.Option{springconfig.WithBasicAuth("", "pw")}},
	} {
		if _, err := springconfig.New(tc.servers, tc.app, tc.opts...); !errors.Is(err, springconfig.ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
}

func TestBasicAuthIsSent(t *testing.T) {
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		_, _ = io.WriteString(w, answer(`{}`))
	}))
	defer srv.Close()
	src, err := springconfig.New([]string{srv.URL}, "orders", springconfig.WithBasicAuth("u", "p"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Load(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if user != "u" || pass != "p" {
		t.Fatalf("server saw user %q password %q, want u and p", user, pass)
	}
}

// nextWithin calls Next with a deadline; ok is false when nothing came.
func nextWithin(w config.Watcher, d time.Duration) (docs []config.Document, err error, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	docs, err = w.Next(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, nil, false
	}
	return docs, err, true
}

// A watcher keeps the last good snapshot through a 500, malformed JSON and a server that
// is gone, reports each trouble once however many polls meet it, and delivers the next good
// answer.
func TestWatcherKeepsTheLastGoodSnapshotAndReportsEachTroubleOnce(t *testing.T) {
	f := newFake(t)
	src, err := springconfig.New([]string{f.URL}, "orders", fast(t)...)
	if err != nil {
		t.Fatal(err)
	}
	w, err := src.Watch(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	docs, err, ok := nextWithin(w, 10*time.Second)
	if !ok || err != nil || len(docs) != 1 || !strings.Contains(string(docs[0].Data), "version: 1") {
		t.Fatalf("first Next = %q, %v", docs, err)
	}
	// Polls every 100 ms, so a second of the same trouble is about ten polls.
	const quiet = time.Second
	for _, trouble := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"500", 500, `{"error":"boom"}`, springconfig.ErrBadResponse},
		{"malformed JSON", 200, `{"propertySources":`, springconfig.ErrBadResponse},
	} {
		f.set(trouble.status, trouble.body)
		_, err, ok := nextWithin(w, 10*time.Second)
		if !ok || !errors.Is(err, trouble.want) {
			t.Fatalf("%s: Next = %v (came: %v), want %v", trouble.name, err, ok, trouble.want)
		}
		if docs, err, ok := nextWithin(w, quiet); ok {
			t.Fatalf("%s: Next again = %q, %v; want nothing while the same trouble repeats", trouble.name, docs, err)
		}
	}
	// The same good content as before: nothing new to deliver.
	f.set(200, answer(`{"version":1}`))
	if docs, err, ok := nextWithin(w, quiet); ok {
		t.Fatalf("after recovering with the same content Next = %q, %v; want nothing", docs, err)
	}
	f.set(200, answer(`{"version":2}`))
	docs, err, ok = nextWithin(w, 10*time.Second)
	if !ok || err != nil || !strings.Contains(string(docs[0].Data), "version: 2") {
		t.Fatalf("after recovering Next = %q, %v, want version 2", docs, err)
	}
	f.Close()
	_, err, ok = nextWithin(w, 10*time.Second)
	if !ok || !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("server gone: Next = %v, want ErrUnavailable", err)
	}
	if docs, err, ok := nextWithin(w, quiet); ok {
		t.Fatalf("server still gone: Next again = %q, %v; want nothing", docs, err)
	}
}

type orders struct{ Version int }

// Through a Config: a bad answer changes nothing and is reported once to the error handler.
func TestConfigKeepsTheLastGoodValueOverABadAnswer(t *testing.T) {
	f := newFake(t)
	src, err := springconfig.New([]string{f.URL}, "orders", fast(t)...)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 100)
	cfg, err := config.New(ctxFor(t), []config.Source{src}, config.WithErrorHandler(func(err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	v, err := config.Bind[orders](cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	f.set(500, "boom")
	select {
	case err := <-errs:
		if !errors.Is(err, springconfig.ErrBadResponse) {
			t.Fatalf("reported %v, want ErrBadResponse", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a 500 was not reported")
	}
	time.Sleep(time.Second) // about ten more polls meet the same 500
	if n := len(errs); n != 0 {
		t.Fatalf("the same 500 was reported %d more times", n)
	}
	if got := v.Load().Version; got != 1 {
		t.Fatalf("Version = %d after a 500, want the last good 1", got)
	}
	changed := make(chan int, 1)
	v.OnChange(func(_, n *orders) { changed <- n.Version })
	f.set(200, answer(`{"version":3}`))
	select {
	case got := <-changed:
		if got != 3 {
			t.Fatalf("Version = %d, want 3", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the good answer after the 500 did not arrive")
	}
}

// Config errors name a source by its String; without one they would say
// "source 0 (*springconfig.Source)".
func TestConfigErrorsNameTheSource(t *testing.T) {
	src, err := springconfig.New([]string{"http://config:8888"}, "orders",
		springconfig.WithProfiles("dev", "eu"), springconfig.WithLabel("main"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(src), "springconfig orders/dev,eu/main"; got != want {
		t.Errorf("the source prints as %q, want %q", got, want)
	}
	f := newFake(t)
	f.set(200, answer(`{"port":"80x"}`))
	src, err = springconfig.New([]string{f.URL}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(ctxFor(t), []config.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	var port int
	err = cfg.ScanKey("port", &port)
	if err == nil || !strings.Contains(err.Error(), "/srv/config/orders.yml") {
		t.Fatalf("a bad value is reported as %v, want an error naming the file it came from", err)
	}
}
