package config_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/env"
	"github.com/tianshu-go/tianshu/config/flags"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memSource is a watchable in-memory source driven by the test.
type memSource struct {
	mu    sync.Mutex
	docs  []config.Document
	boxes []*config.Mailbox
	fail  error // returned once by the next Next
}

func newMem(docs ...config.Document) *memSource { return &memSource{docs: docs} }

func (s *memSource) Load(context.Context) ([]config.Document, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs, nil
}

func (s *memSource) Watch(context.Context) (config.Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := config.NewMailbox()
	b.Put(s.docs)
	s.boxes = append(s.boxes, b)
	return &memWatcher{s: s, box: b}, nil
}

func (s *memSource) set(docs ...config.Document) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs = docs
	for _, b := range s.boxes {
		b.Put(docs)
	}
}

type memWatcher struct {
	s   *memSource
	box *config.Mailbox
}

func (w *memWatcher) Next(ctx context.Context) ([]config.Document, error) {
	w.s.mu.Lock()
	err := w.s.fail
	w.s.fail = nil
	w.s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return w.box.Next(ctx)
}

func (w *memWatcher) Stop() error { w.box.Close(); return nil }

func yamlDoc(name, body string) config.Document {
	return config.Document{Name: name, Data: []byte(body)}
}

func noEnv(string) (string, bool) { return "", false }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustNew(t *testing.T, srcs []config.Source, opts ...config.Option) *config.Config {
	t.Helper()
	opts = append([]config.Option{config.WithLookupEnv(noEnv), config.WithLogger(quiet())}, opts...)
	c, err := config.New(context.Background(), srcs, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLayersOverrideInOrder(t *testing.T) {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.String("db.port", "1", "")
	fs.String("db.user", "flag-default-must-not-win", "")
	if err := fs.Parse([]string{"-db.port=9000"}); err != nil {
		t.Fatal(err)
	}
	environ := func() []string {
		return []string{"APP_DB__HOST=env-host", "APP_DB__PORT=7000", "OTHER_X=1"}
	}
	c := mustNew(t, []config.Source{
		config.Bytes("defaults.yaml", "", []byte("db: {host: localhost, port: 5432, user: app, pool: 4}\n")),
		config.Bytes("app.toml", "", []byte("[db]\nhost = \"file-host\"\nuser = \"svc\"\n")),
		newMem(yamlDoc("remote.json", `{"db": {"pool": 16}}`)),
		env.New("APP", env.WithEnviron(environ)),
		flags.New(fs),
	})
	tests := []struct{ key, want string }{
		{"db.host", "env-host"},  // env over file over defaults
		{"db.port", "9000"},      // flags over env
		{"db.user", "svc"},       // file over defaults; unset flag ignored
		{"db.pool", "16"},        // remote over defaults
		{"DB.Host", "env-host"},  // keys match case-insensitively
		{"other.x", "<missing>"}, // prefix filter
	}
	for _, tc := range tests {
		t.Run(tc.key+" resolves to "+tc.want, func(t *testing.T) {
			got := "<missing>"
			if v, ok := c.Get(tc.key); ok {
				got = fmt.Sprint(v)
			}
			if got != tc.want {
				t.Fatalf("Get(%q) = %s, want %s", tc.key, got, tc.want)
			}
		})
	}
}

func TestFormatsDecodeToTheSameTree(t *testing.T) {
	type S struct {
		Name  string
		Port  int
		Ratio float64
		On    bool
		Tags  []string
		Sub   struct{ X string }
	}
	want := S{Name: "a", Port: 80, Ratio: 0.5, On: true, Tags: []string{"x", "y"}}
	want.Sub.X = "z"
	tests := []struct{ name, body string }{
		{"app.yaml", "name: a\nport: 80\nratio: 0.5\non: true\ntags: [x, y]\nsub: {x: z}\n"},
		{"app.json", `{"name":"a","port":80,"ratio":0.5,"on":true,"tags":["x","y"],"sub":{"x":"z"}}`},
		{"app.toml", "name = \"a\"\nport = 80\nratio = 0.5\non = true\ntags = [\"x\", \"y\"]\n[sub]\nx = \"z\"\n"},
		{"app.properties", "name=a\nport=80\nratio=0.5\non=true\ntags=x, y\nsub.x=z\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" scans into the struct", func(t *testing.T) {
			c := mustNew(t, []config.Source{config.Bytes(tc.name, "", []byte(tc.body))})
			var got S
			if err := c.Scan(&got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestBadDocumentsNameFileLineAndColumn(t *testing.T) {
	tests := []struct {
		name, body string
		want       string
	}{
		{"a.json", "{\n  \"a\": 1,\n  \"b\" 2\n}", "a.json:3:7:"},
		{"a.json", "{\"a\": 1", "a.json:1:8:"},
		{"a.json", "[1, 2]", "a.json:1:1: top level is a list"},
		{"a.toml", "a = 1\nb = = 2\n", "a.toml:2:5:"},
		{"a.yaml", "a: 1\n b: 2\n", "a.yaml:2:3:"},
		{"a.yaml", "a: 1\na: 2\n", "a.yaml:2:1:"},
		{"a.properties", "a=1\nb=\\u12\n", "a.properties:2:"},
		{"a.properties", "a=1\na.b=2\n", `key "a" is both a value and a section`},
		{"a.ini", "a=1", `unknown format ""`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s with %q reports %s", tc.name, tc.body, tc.want), func(t *testing.T) {
			_, err := config.New(context.Background(), []config.Source{config.Bytes(tc.name, "", []byte(tc.body))})
			if !errors.Is(err, config.ErrSyntax) {
				t.Fatalf("err = %v, want ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

type netConf struct {
	Addr    string        `config:"addr,required"`
	Timeout time.Duration `config:"timeout" default:"2s"`
	Retries int           `default:"3"`
	Peers   []string
	IP      net.IP
	Level   slog.Level
	Weights map[string]int
	Limits  *struct{ RPS float64 }
	Opaque  any
	Started time.Time
	Base
}

type Base struct {
	Zone string `default:"z1"`
}

func (n *netConf) Validate() error {
	if n.Retries > 10 {
		return fmt.Errorf("retries %d > 10", n.Retries)
	}
	return nil
}

func TestScanFillsTypedFields(t *testing.T) {
	c := mustNew(t, []config.Source{config.Bytes("n.yaml", "", []byte(`
addr: ":80"
peers: a, b ,c
ip: 10.0.0.1
level: warn
weights: {x: 1, y: "2"}
limits: {rps: 1.5}
opaque: {k: [1, 2]}
started: 2026-01-02T03:04:05Z
zone: z9
`))})
	var n netConf
	if err := c.Scan(&n); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ what, got, want string }{
		{"default duration", n.Timeout.String(), "2s"},
		{"default int", fmt.Sprint(n.Retries), "3"},
		{"comma list", fmt.Sprint(n.Peers), "[a b c]"},
		{"text unmarshaler", n.IP.String(), "10.0.0.1"},
		{"slog level", n.Level.String(), "WARN"},
		{"map with a numeric string", fmt.Sprint(n.Weights), "map[x:1 y:2]"},
		{"pointer to struct", fmt.Sprint(n.Limits.RPS), "1.5"},
		{"any", fmt.Sprint(n.Opaque), "map[k:[1 2]]"},
		{"time", n.Started.Format(time.RFC3339), "2026-01-02T03:04:05Z"},
		{"embedded struct flattened", n.Zone, "z9"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %s, want %s", ck.what, ck.got, ck.want)
		}
	}
}

func TestScanReportsWhatIsWrong(t *testing.T) {
	tests := []struct {
		name, body string
		is         error
		want       string
	}{
		{"a string for an int names the key and type", "addr: x\nretries: many\n", config.ErrType, `key "retries": expected int, got string "many"`},
		{"a unitless duration asks for a unit", "addr: x\ntimeout: 5\n", config.ErrType, `key "timeout": expected duration`},
		{"a list for a string names the key", "addr: [1]\n", config.ErrType, `key "addr": expected string, got a list`},
		{"an int overflow is a type error", "addr: x\nlimits: {rps: 1}\nweights: {a: 99999999999999999999}\n", config.ErrType, `key "weights.a": expected int`},
		{"a missing required key names it", "timeout: 1s\n", config.ErrMissingKey, `required key "addr" is not set`},
		{"a failed Validate names the problem", "addr: x\nretries: 11\n", config.ErrInvalid, "retries 11 > 10"},
		{"a bad IP names the key", "addr: x\nip: 300.1.1.1\n", config.ErrType, `key "ip": expected net.IP`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, []config.Source{config.Bytes("n.yaml", "", []byte(tc.body))})
			var n netConf
			err := c.Scan(&n)
			if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Fatalf("Scan error = %v, want %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestScanTakesIndexedListsFromFlatSources(t *testing.T) {
	c := mustNew(t, []config.Source{env.New("APP", env.WithEnviron(func() []string {
		return []string{"APP_PEERS__1=b", "APP_PEERS__0=a", "APP_ADDR=x"}
	}))})
	var n netConf
	if err := c.Scan(&n); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(n.Peers) != "[a b]" {
		t.Fatalf("Peers = %v, want [a b]", n.Peers)
	}
}

func TestPlaceholders(t *testing.T) {
	envVars := map[string]string{"HOST": "db.internal", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := envVars[k]; return v, ok }
	tests := []struct {
		name, body, key, want string
		is                    error
	}{
		{"an env variable is substituted", "v: ${HOST}", "v", "db.internal", nil},
		{"a config key wins over the environment", "HOST: cfg\nv: ${HOST}", "v", "cfg", nil},
		{"a default applies when nothing is set", "v: ${NOPE:fallback}", "v", "fallback", nil},
		{"a default may contain colons", "v: ${NOPE:http://x:1}", "v", "http://x:1", nil},
		{"an empty variable is set, not missing", "v: x${EMPTY:def}y", "v", "xy", nil},
		{"a nested default resolves", "v: ${NOPE:${HOST}}", "v", "db.internal", nil},
		{"a dotted key keeps its type when alone", "db: {port: 5432}\nv: ${db.port}", "v", "5432", nil},
		{"placeholders splice into text", "a: {b: 1}\nv: pre-${a.b}-${HOST}", "v", "pre-1-db.internal", nil},
		{"a chain of references resolves", "a: ${b}\nb: ${c}\nc: end\nv: ${a}", "v", "end", nil},
		{"$${ escapes a placeholder", "v: $${HOST}", "v", "${HOST}", nil},
		{"a missing name without default fails", "v: ${NOPE}", "", "", config.ErrMissingKey},
		{"a cycle fails", "a: ${b}\nb: ${a}", "", "", config.ErrSyntax},
		{"an unterminated placeholder fails", "v: ${HOST", "", "", config.ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.New(context.Background(),
				[]config.Source{config.Bytes("p.yaml", "", []byte(tc.body))}, config.WithLookupEnv(lookup))
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("New error = %v, want %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, _ := c.Get(tc.key)
			if fmt.Sprint(v) != tc.want {
				t.Fatalf("Get(%q) = %v, want %s", tc.key, v, tc.want)
			}
		})
	}
}

type appConf struct {
	Name string `config:"name,required"`
	Max  int    `config:"max"`
}

func (a *appConf) Validate() error {
	if a.Max < 0 {
		return errors.New("max must not be negative")
	}
	return nil
}

// reloadRig binds appConf over a memSource and records what observers and
// the error handler see.
type reloadRig struct {
	src     *memSource
	cfg     *config.Config
	val     *config.Value[appConf]
	changes chan *appConf
	errs    chan error
}

func newRig(t *testing.T, body string) *reloadRig {
	t.Helper()
	r := &reloadRig{src: newMem(yamlDoc("app.yaml", body)), changes: make(chan *appConf, 100), errs: make(chan error, 100)}
	r.cfg = mustNew(t, []config.Source{r.src}, config.WithErrorHandler(func(err error) { r.errs <- err }))
	v, err := config.Bind[appConf](r.cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	r.val = v
	t.Cleanup(v.OnChange(func(_, n *appConf) { r.changes <- n }))
	return r
}

func (r *reloadRig) wantChange(t *testing.T, max int) {
	t.Helper()
	select {
	case n := <-r.changes:
		if n.Max != max {
			t.Fatalf("observer got max=%d, want %d", n.Max, max)
		}
	case err := <-r.errs:
		t.Fatalf("change rejected: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("no change to max=%d within 10s", max)
	}
	if got := r.val.Load().Max; got != max {
		t.Fatalf("Load().Max = %d, want %d", got, max)
	}
}

func (r *reloadRig) wantRejected(t *testing.T, is error, keep int) {
	t.Helper()
	select {
	case err := <-r.errs:
		if !errors.Is(err, is) {
			t.Fatalf("rejection reported %v, want %v", err, is)
		}
	case n := <-r.changes:
		t.Fatalf("observer called with %+v for a change that should be rejected", n)
	case <-time.After(10 * time.Second):
		t.Fatal("bad change not reported within 10s")
	}
	if got := r.val.Load().Max; got != keep {
		t.Fatalf("after rejection Load().Max = %d, want the last good %d", got, keep)
	}
}

func TestHotReloadKeepsTheLastGoodConfig(t *testing.T) {
	tests := []struct {
		name string
		body string
		is   error
	}{
		{"a syntax error is rejected", "name: a\nmax: [\n", config.ErrSyntax},
		{"a type mismatch is rejected", "name: a\nmax: lots\n", config.ErrType},
		{"a missing required key is rejected", "max: 5\n", config.ErrMissingKey},
		{"a failed validation is rejected", "name: a\nmax: -1\n", config.ErrInvalid},
		{"an unresolvable placeholder is rejected", "name: ${NOPE}\nmax: 5\n", config.ErrMissingKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "name: a\nmax: 1\n")
			r.src.set(yamlDoc("app.yaml", "name: a\nmax: 2\n"))
			r.wantChange(t, 2)
			r.src.set(yamlDoc("app.yaml", tc.body))
			r.wantRejected(t, tc.is, 2)
			r.src.set(yamlDoc("app.yaml", "name: a\nmax: 3\n"))
			r.wantChange(t, 3)
		})
	}
}

func TestADeletedDocumentTakesItsKeysAway(t *testing.T) {
	r := newRig(t, "name: a\nmax: 1\n")
	r.src.set(yamlDoc("app.yaml", "name: a\nmax: 1\n"), yamlDoc("over.yaml", "max: 9\n"))
	r.wantChange(t, 9)
	r.src.set(yamlDoc("app.yaml", "name: a\nmax: 1\n"))
	r.wantChange(t, 1)
	r.src.set()
	r.wantRejected(t, config.ErrMissingKey, 1) // name is required
}

func TestObserversSeeOnlyTheKeysTheyBound(t *testing.T) {
	src := newMem(yamlDoc("a.yaml", "db: {host: a}\nhttp: {port: 1}\n"))
	c := mustNew(t, []config.Source{src})
	type db struct{ Host string }
	v, err := config.Bind[db](c, "db")
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan string, 10)
	v.OnChange(func(_, n *db) { calls <- n.Host })
	src.set(yamlDoc("a.yaml", "db: {host: a}\nhttp: {port: 2}\n"))
	src.set(yamlDoc("a.yaml", "db: {host: b}\nhttp: {port: 2}\n"))
	select {
	case h := <-calls:
		if h != "b" {
			t.Fatalf("first observer call saw host %q, want b (an http change must not call it)", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("observer not called")
	}
}

func TestReadersNeverSeeTornValues(t *testing.T) {
	src := newMem(yamlDoc("a.yaml", "a: 0\nb: 0\n"))
	c := mustNew(t, []config.Source{src})
	type pair struct{ A, B int }
	v, err := config.Bind[pair](c, "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	seen := make(chan int, 1)
	v.OnChange(func(_, n *pair) {
		select {
		case seen <- n.A:
		default:
		}
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				p := v.Load()
				if p.A != p.B {
					t.Errorf("torn read: %+v", *p)
					return
				}
			}
		})
	}
	for i := 1; i <= 200; i++ {
		src.set(yamlDoc("a.yaml", fmt.Sprintf("a: %d\nb: %d\n", i, i)))
	}
	deadline := time.After(10 * time.Second)
	for v.Load().A != 200 {
		select {
		case <-seen:
		case <-deadline:
			t.Fatalf("final update not applied: %+v", *v.Load())
		}
	}
	close(done)
	wg.Wait()
}

func TestWatchErrorsAreReportedAndWatchingGoesOn(t *testing.T) {
	src := newMem(yamlDoc("a.yaml", "name: a\nmax: 1\n"))
	src.fail = errors.New("backend unreachable")
	errs := make(chan error, 10)
	c := mustNew(t, []config.Source{src}, config.WithErrorHandler(func(err error) { errs <- err }))
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "backend unreachable") {
			t.Fatalf("reported %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch error not reported")
	}
	v, err := config.Bind[appConf](c, "")
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 1)
	v.OnChange(func(_, _ *appConf) { changed <- struct{}{} })
	src.set(yamlDoc("a.yaml", "name: a\nmax: 2\n"))
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("watching stopped after an error")
	}
}

func TestBindValidatorOption(t *testing.T) {
	c := mustNew(t, []config.Source{config.Bytes("a.yaml", "", []byte("name: a\nmax: 5\n"))})
	_, err := config.Bind[appConf](c, "", config.WithValidator(func(a *appConf) error {
		if a.Max > 3 {
			return fmt.Errorf("max %d above 3", a.Max)
		}
		return nil
	}))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "max 5 above 3") {
		t.Fatalf("Bind error = %v, want the validator's", err)
	}
}

func TestNewFailsOnABadSourceAndAFlagSetNotParsed(t *testing.T) {
	_, err := config.New(context.Background(), []config.Source{flags.New(flag.NewFlagSet("x", flag.ContinueOnError))})
	if !errors.Is(err, flags.ErrNotParsed) {
		t.Fatalf("New error = %v, want ErrNotParsed", err)
	}
}

func TestMailboxDeliversTheNewestSnapshotOnly(t *testing.T) {
	b := config.NewMailbox()
	ctx := context.Background()
	b.Put([]config.Document{yamlDoc("a", "1")})
	b.Put([]config.Document{yamlDoc("a", "2")})
	got, err := b.Next(ctx)
	if err != nil || string(got[0].Data) != "2" {
		t.Fatalf("Next = %q, %v; want the newest", got, err)
	}
	b.Put([]config.Document{yamlDoc("a", "3")})
	b.Put([]config.Document{yamlDoc("a", "2")}) // back to what was delivered: nothing new
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if got, err := b.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %q, %v; want no delivery", got, err)
	}
	b.Close()
	if _, err := b.Next(ctx); !errors.Is(err, config.ErrStopped) {
		t.Fatalf("Next after Close = %v, want ErrStopped", err)
	}
}
