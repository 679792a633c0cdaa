package configtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/config"
)

// Store writes to the store behind the source under test.
type Store interface {
	// Put creates or replaces the document called name.
	Put(ctx context.Context, name string, data []byte) error
	// Delete removes the document called name.
	Delete(ctx context.Context, name string) error
}

// Harness tells Run how to reach a source and its store.
type Harness struct {
	// Open returns a source over a fresh, empty, isolated namespace (a new
	// directory, ZooKeeper path, Nacos group, etcd prefix) and a Store that
	// writes into it. It is called once per subtest and must clean up with
	// t.Cleanup.
	Open func(t *testing.T) (config.Source, Store)
	// Names are the document names the suite may Put, in the order the
	// source yields them. One name is enough (a source over a single key);
	// with two or more the suite also checks multi-document snapshots. Give
	// names a ".yaml" extension unless the source sets Document.Format.
	Names []string
	// Timeout bounds each wait for a change to arrive (default 10s). Raise
	// it for slow servers; it never makes a passing run slower.
	Timeout time.Duration
	// IgnoreGoroutines lists goroutines that the backend's client library
	// keeps for the whole process, for the leak checks.
	IgnoreGoroutines []goleak.Option
}

// Run checks that a Source keeps the contract documented on config.Source
// and config.Watcher: load, update, delete, ordered delivery, no lost final
// update after a burst, Stop unblocking Next, no leaked goroutine, and that a
// Config over it applies good changes and keeps the last good one over a bad
// one.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Open == nil || len(h.Names) == 0 {
		t.Fatal("configtest: Harness needs Open and at least one name")
	}
	if h.Timeout <= 0 {
		h.Timeout = 10 * time.Second
	}
	s := &suite{h: h}
	tests := []struct {
		name string
		fn   func(*testing.T)
		many bool
	}{
		{"Load of an empty store returns no documents", s.loadEmpty, false},
		{"Load returns the document that was put", s.loadPut, false},
		{"Load returns every document in order", s.loadMany, true},
		{"the first Next returns the current state at once", s.firstNext, false},
		{"the first Next on an empty store returns an empty snapshot", s.firstNextEmpty, false},
		{"Next delivers an update", s.update, false},
		{"Next delivers a delete as a missing document", s.deleteDoc, false},
		{"Next delivers a document created after a delete", s.recreate, false},
		{"a burst of writes arrives in order and ends with the last one", s.burst, false},
		{"a change to one document leaves the others in the snapshot", s.partialUpdate, true},
		{"Stop unblocks a pending Next", s.stopUnblocks, false},
		{"Next after Stop returns ErrStopped and Stop is idempotent", s.afterStop, false},
		{"a cancelled ctx unblocks Next and the watcher stays usable", s.ctxCancel, false},
		{"the watch outlives the ctx given to Watch", s.outlivesCtx, false},
		{"two watchers both see a change and stopping one spares the other", s.twoWatchers, false},
		{"a Config applies good changes and keeps the last good one over a bad one", s.configOver, false},
	}
	for _, tc := range tests {
		if tc.many && len(h.Names) < 2 {
			continue
		}
		t.Run(tc.name, tc.fn)
	}
}

type suite struct{ h Harness }

func doc(name string, version int) []byte {
	return fmt.Appendf(nil, "suite: %q\nversion: %d\n", name, version)
}

// version finds the document the suite wrote under name and returns its
// version.
func version(docs []config.Document, name string) (int, bool) {
	marker := fmt.Sprintf("suite: %q\n", name)
	for _, d := range docs {
		s := string(d.Data)
		if !strings.HasPrefix(s, marker) {
			continue
		}
		_, rest, ok := strings.Cut(s, "version: ")
		if !ok {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(rest))
		return n, err == nil
	}
	return 0, false
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) put(t *testing.T, st Store, name string, v int) {
	t.Helper()
	if err := st.Put(s.ctx(t), name, doc(name, v)); err != nil {
		t.Fatalf("Store.Put(%q): %v", name, err)
	}
}

// watch starts a watcher, checks after the test that Stop releases every
// goroutine it started, and stops it at cleanup.
func (s *suite) watch(t *testing.T, src config.Source) config.Watcher {
	t.Helper()
	before := goleak.IgnoreCurrent()
	w, err := src.Watch(s.ctx(t))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
		opts := append([]goleak.Option{before}, s.h.IgnoreGoroutines...)
		if err := goleak.Find(opts...); err != nil {
			t.Errorf("goroutines left after Stop: %v", err)
		}
	})
	return w
}

// next calls Next with the suite's timeout.
func (s *suite) next(t *testing.T, w config.Watcher) []config.Document {
	t.Helper()
	docs, err := w.Next(s.ctx(t))
	if err != nil {
		t.Fatalf("Next: %v (waited up to %v)", err, s.h.Timeout)
	}
	checkDocs(t, docs)
	return docs
}

// until calls Next until ok accepts a snapshot.
func (s *suite) until(t *testing.T, w config.Watcher, what string, ok func([]config.Document) bool) []config.Document {
	t.Helper()
	ctx := s.ctx(t)
	for {
		docs, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: Next: %v (waited up to %v)", what, err, s.h.Timeout)
		}
		checkDocs(t, docs)
		if ok(docs) {
			return docs
		}
	}
}

func checkDocs(t *testing.T, docs []config.Document) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range docs {
		if d.Name == "" {
			t.Errorf("document without a name: %q", d.Data)
		}
		if seen[d.Name] {
			t.Errorf("document %q appears twice in one snapshot", d.Name)
		}
		seen[d.Name] = true
		if d.Format == "" && config.FormatOf(d.Name) == "" {
			t.Errorf("document %q has no Format and its name has no known extension", d.Name)
		}
	}
}

func hasVersion(name string, v int) func([]config.Document) bool {
	return func(docs []config.Document) bool {
		got, ok := version(docs, name)
		return ok && got == v
	}
}

func (s *suite) loadEmpty(t *testing.T) {
	src, _ := s.h.Open(t)
	docs, err := src.Load(s.ctx(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(docs) != 0 {
		t.Fatalf("Load of an empty store = %d documents, want none", len(docs))
	}
}

func (s *suite) loadPut(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 1)
	docs, err := src.Load(s.ctx(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checkDocs(t, docs)
	if v, ok := version(docs, name); !ok || v != 1 || len(docs) != 1 {
		t.Fatalf("Load = %q, want one document with version 1", docs)
	}
}

func (s *suite) loadMany(t *testing.T) {
	src, st := s.h.Open(t)
	for i := len(s.h.Names) - 1; i >= 0; i-- { // written backwards, read in order
		s.put(t, st, s.h.Names[i], i)
	}
	docs, err := src.Load(s.ctx(t))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(docs) != len(s.h.Names) {
		t.Fatalf("Load returned %d documents, want %d", len(docs), len(s.h.Names))
	}
	for i, name := range s.h.Names {
		if v, ok := version(docs[i:i+1], name); !ok || v != i {
			t.Errorf("document %d = %q, want %q version %d", i, docs[i].Data, name, i)
		}
	}
}

func (s *suite) firstNext(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 7)
	w := s.watch(t, src)
	if docs := s.next(t, w); !hasVersion(name, 7)(docs) {
		t.Fatalf("first Next = %q, want version 7", docs)
	}
}

func (s *suite) firstNextEmpty(t *testing.T) {
	src, _ := s.h.Open(t)
	w := s.watch(t, src)
	if docs := s.next(t, w); len(docs) != 0 {
		t.Fatalf("first Next on an empty store = %q, want nothing", docs)
	}
}

func (s *suite) update(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 1)
	w := s.watch(t, src)
	s.next(t, w)
	s.put(t, st, name, 2)
	s.until(t, w, "version 2", hasVersion(name, 2))
}

func (s *suite) deleteDoc(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 1)
	w := s.watch(t, src)
	s.next(t, w)
	if err := st.Delete(s.ctx(t), name); err != nil {
		t.Fatalf("Store.Delete: %v", err)
	}
	s.until(t, w, "the delete", func(docs []config.Document) bool {
		_, ok := version(docs, name)
		return !ok
	})
}

func (s *suite) recreate(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 1)
	w := s.watch(t, src)
	s.next(t, w)
	if err := st.Delete(s.ctx(t), name); err != nil {
		t.Fatalf("Store.Delete: %v", err)
	}
	s.until(t, w, "the delete", func(docs []config.Document) bool {
		_, ok := version(docs, name)
		return !ok
	})
	s.put(t, st, name, 2)
	s.until(t, w, "version 2 after the delete", hasVersion(name, 2))
}

func (s *suite) burst(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 0)
	w := s.watch(t, src)
	s.next(t, w)
	const last = 40
	for v := 1; v <= last; v++ {
		s.put(t, st, name, v)
	}
	prev := 0
	s.until(t, w, fmt.Sprintf("version %d", last), func(docs []config.Document) bool {
		v, ok := version(docs, name)
		if !ok {
			t.Fatalf("document vanished during a burst of writes: %q", docs)
		}
		if v < prev {
			t.Fatalf("version %d arrived after version %d", v, prev)
		}
		prev = v
		return v == last
	})
}

func (s *suite) partialUpdate(t *testing.T) {
	src, st := s.h.Open(t)
	a, b := s.h.Names[0], s.h.Names[1]
	s.put(t, st, a, 1)
	s.put(t, st, b, 1)
	w := s.watch(t, src)
	s.until(t, w, "both documents", func(docs []config.Document) bool { return len(docs) == 2 })
	s.put(t, st, b, 2)
	docs := s.until(t, w, "the second document's version 2", hasVersion(b, 2))
	if !hasVersion(a, 1)(docs) {
		t.Fatalf("snapshot after updating %q = %q, want %q still at version 1", b, docs, a)
	}
}

func (s *suite) stopUnblocks(t *testing.T) {
	src, _ := s.h.Open(t)
	w := s.watch(t, src)
	s.next(t, w)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next(context.Background())
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Next block; the check holds either way
	if err := w.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, config.ErrStopped) {
			t.Fatalf("Next blocked during Stop returned %v, want ErrStopped", err)
		}
	case <-time.After(s.h.Timeout):
		t.Fatalf("Next still blocked %v after Stop", s.h.Timeout)
	}
}

func (s *suite) afterStop(t *testing.T) {
	src, _ := s.h.Open(t)
	w := s.watch(t, src)
	if err := w.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := w.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := w.Next(s.ctx(t)); !errors.Is(err, config.ErrStopped) {
		t.Fatalf("Next after Stop = %v, want ErrStopped", err)
	}
}

func (s *suite) ctxCancel(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	w := s.watch(t, src)
	s.next(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with an expiring ctx and no change = %v, want DeadlineExceeded", err)
	}
	s.put(t, st, name, 3)
	s.until(t, w, "version 3 after a cancelled Next", hasVersion(name, 3))
}

func (s *suite) outlivesCtx(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	ctx, cancel := context.WithCancel(context.Background())
	before := goleak.IgnoreCurrent()
	w, err := src.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(func() {
		_ = w.Stop()
		if err := goleak.Find(append([]goleak.Option{before}, s.h.IgnoreGoroutines...)...); err != nil {
			t.Errorf("goroutines left after Stop: %v", err)
		}
	})
	cancel()
	s.next(t, w)
	s.put(t, st, name, 5)
	s.until(t, w, "version 5 after Watch's ctx was cancelled", hasVersion(name, 5))
}

func (s *suite) twoWatchers(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	w1, w2 := s.watch(t, src), s.watch(t, src)
	s.next(t, w1)
	s.next(t, w2)
	s.put(t, st, name, 1)
	var wg sync.WaitGroup
	for _, w := range []config.Watcher{w1, w2} {
		wg.Go(func() { s.until(t, w, "version 1 on both watchers", hasVersion(name, 1)) })
	}
	wg.Wait()
	if err := w1.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	s.put(t, st, name, 2)
	s.until(t, w2, "version 2 on the watcher still running", hasVersion(name, 2))
}

type suiteDoc struct {
	Suite   string
	Version int
}

func (d *suiteDoc) Validate() error {
	if d.Version < 0 {
		return fmt.Errorf("version %d is negative", d.Version)
	}
	return nil
}

func (s *suite) configOver(t *testing.T) {
	src, st := s.h.Open(t)
	name := s.h.Names[0]
	s.put(t, st, name, 1)
	errc := make(chan error, 16)
	cfg, err := config.New(s.ctx(t), []config.Source{src},
		config.WithLookupEnv(func(string) (string, bool) { return "", false }),
		config.WithErrorHandler(func(err error) {
			select {
			case errc <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("config.New: %v", err)
	}
	t.Cleanup(func() { _ = cfg.Close() })
	v, err := config.Bind[suiteDoc](cfg, "")
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	changes := make(chan int, 64)
	v.OnChange(func(_, n *suiteDoc) { changes <- n.Version })
	waitVersion := func(want int) {
		t.Helper()
		timeout := time.After(s.h.Timeout)
		for {
			select {
			case got := <-changes:
				if got == want {
					return
				}
			case err := <-errc:
				t.Fatalf("waiting for version %d: change rejected: %v", want, err)
			case <-timeout:
				t.Fatalf("observer did not see version %d within %v", want, s.h.Timeout)
			}
		}
	}
	s.put(t, st, name, 2)
	waitVersion(2)

	// Negative versions fail validation: the change must be rejected.
	s.put(t, st, name, -1)
	select {
	case err := <-errc:
		if !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("rejected change reported %v, want an ErrInvalid", err)
		}
	case got := <-changes:
		t.Fatalf("observer saw version %d from an invalid change", got)
	case <-time.After(s.h.Timeout):
		t.Fatalf("an invalid change was not reported within %v", s.h.Timeout)
	}
	if got := v.Load().Version; got != 2 {
		t.Fatalf("after a rejected change Load().Version = %d, want the last good 2", got)
	}
	s.put(t, st, name, 3)
	waitVersion(3)
}
