package config_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
)

// recorder is a slog.Handler that keeps every record, so tests count what was
// logged instead of matching text.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// warnings returns the messages and "err" attributes of the records at
// level Warn or above.
func (r *recorder) warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level < slog.LevelWarn {
			continue
		}
		s := rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			s += " " + a.Key + "=" + a.Value.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

// stepSource's watcher hands over exactly the snapshots (or errors) the test
// sends, one per Next. Because the Config calls Next again only after it has
// applied the previous snapshot, a send returning means every earlier
// snapshot has been applied: the test needs no sleeps and nothing is
// coalesced.
type stepSource struct {
	initial []config.Document
	steps   chan step
}

type step struct {
	docs []config.Document
	err  error
}

func newStep(docs ...config.Document) *stepSource {
	return &stepSource{initial: docs, steps: make(chan step)}
}

func (s *stepSource) Load(context.Context) ([]config.Document, error) { return s.initial, nil }

func (s *stepSource) Watch(context.Context) (config.Watcher, error) {
	return &stepWatcher{s: s, stop: make(chan struct{})}, nil
}

// send hands one snapshot to the watcher, failing the test if the Config does
// not ask for it in time.
func (s *stepSource) send(t *testing.T, st step) {
	t.Helper()
	select {
	case s.steps <- st:
	case <-time.After(10 * time.Second):
		t.Fatal("the Config did not ask for the next snapshot within 10s")
	}
}

type stepWatcher struct {
	s        *stepSource
	first    bool
	stop     chan struct{}
	stopOnce sync.Once
}

func (w *stepWatcher) Next(ctx context.Context) ([]config.Document, error) {
	if !w.first {
		w.first = true
		return w.s.initial, nil
	}
	select {
	case st := <-w.s.steps:
		return st.docs, st.err
	case <-w.stop:
		return nil, config.ErrStopped
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *stepWatcher) Stop() error {
	w.stopOnce.Do(func() { close(w.stop) })
	return nil
}

// The existing TestTheSameRejectionIsReportedOnce could not fail: its second
// bad write was nearly always coalesced by the Mailbox with the good write
// that followed, so the same error was produced only once anyway. Here every
// bad snapshot is applied.
func TestARepeatedRejectionIsLoggedAndHandledOnce(t *testing.T) {
	tests := []struct {
		name string
		bad  []step
	}{
		{"the same bad document delivered again", []step{
			{docs: []config.Document{yamlDoc("app.yaml", "name: a\nmax: -1\n")}},
			{docs: []config.Document{yamlDoc("app.yaml", "name: a\nmax: -1\n")}},
			{docs: []config.Document{yamlDoc("app.yaml", "name: a\nmax: -1\n")}},
		}},
		{"different bytes with the same error", []step{
			{docs: []config.Document{yamlDoc("app.yaml", "name: a\nmax: -1\n")}},
			{docs: []config.Document{yamlDoc("app.yaml", "max: -1\nname: a\n")}},
			{docs: []config.Document{yamlDoc("app.yaml", "max: -1\nname: a # again\n")}},
		}},
		{"the same watch failure on every retry", []step{
			{err: errors.New("backend unreachable")},
			{err: errors.New("backend unreachable")},
			{err: errors.New("backend unreachable")},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newStep(yamlDoc("app.yaml", "name: a\nmax: 1\n"))
			rec := &recorder{}
			var mu sync.Mutex
			var handled []error
			c, err := config.New(context.Background(), []config.Source{src},
				config.WithLookupEnv(noEnv), config.WithLogger(slog.New(rec)),
				config.WithErrorHandler(func(err error) { mu.Lock(); handled = append(handled, err); mu.Unlock() }))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			v, err := config.Bind[appConf](c, "")
			if err != nil {
				t.Fatal(err)
			}
			good := step{docs: []config.Document{yamlDoc("app.yaml", "name: a\nmax: 4\n")}}
			for _, st := range tc.bad {
				src.send(t, st)
			}
			// Once the good snapshot is taken, every bad one has been applied;
			// once the next is taken, the good one has been too.
			src.send(t, good)
			src.send(t, good)
			if got := v.Load().Max; got != 4 {
				t.Fatalf("Max = %d after the good snapshot, want 4", got)
			}
			if w := rec.warnings(); len(w) != 1 {
				t.Errorf("%d warnings logged for %d identical failures, want 1:\n%q", len(w), len(tc.bad), w)
			}
			mu.Lock()
			if len(handled) != 1 {
				t.Errorf("error handler called %d times for %d identical failures, want 1: %v", len(handled), len(tc.bad), handled)
			}
			mu.Unlock()

			// A failure after a recovery is news again.
			src.send(t, tc.bad[0])
			src.send(t, good)
			src.send(t, good)
			if w := rec.warnings(); len(w) != 2 {
				t.Errorf("%d warnings after the failure came back, want 2:\n%q", len(w), w)
			}
		})
	}
}
