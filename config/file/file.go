package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tianshu-go/tianshu/config"
)

// Option configures New.
type Option func(*Source)

// Optional makes a missing file or directory an empty snapshot instead of an
// error. Watching still needs the parent directory to exist.
func Optional() Option { return func(s *Source) { s.optional = true } }

// WithFormat sets the format of every document, for files whose extension
// does not tell (the default guesses from the extension).
func WithFormat(f config.Format) Option { return func(s *Source) { s.format = f } }

// WithDebounce sets how long the watcher waits for a directory to go quiet
// before it reads it again (default 20ms). Editors and Kubernetes replace a
// file in several steps; reading between them would see it missing.
func WithDebounce(d time.Duration) Option { return func(s *Source) { s.debounce = d } }

// WithPollInterval makes the watcher also re-read on this period, for file
// systems where change notification is unreliable (some network mounts). If
// fsnotify cannot start at all, the watcher polls every 2s without it.
func WithPollInterval(d time.Duration) Option { return func(s *Source) { s.poll = d } }

// Source reads one file, or every config file of one directory, from the
// local file system. Create it with New.
type Source struct {
	path     string
	optional bool
	format   config.Format
	debounce time.Duration
	poll     time.Duration
}

// New returns a Source for path. A file yields one document; a directory
// yields one document per file whose name has a known extension (or every
// file when WithFormat is given), in name order, skipping names that start
// with "." (Kubernetes keeps its "..data" bookkeeping there).
func New(path string, opts ...Option) *Source {
	s := &Source{path: path, debounce: 20 * time.Millisecond}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Load implements config.Source. A missing path is an error wrapping
// fs.ErrNotExist unless the Source is Optional.
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	docs, err := s.read()
	if errors.Is(err, fs.ErrNotExist) {
		if s.optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%w (create it, or pass file.Optional() if it may be absent)", err)
	}
	return docs, err
}

// String names the source in errors: "file" and its path.
func (s *Source) String() string { return "file " + s.path }

func (s *Source) read() ([]config.Document, error) {
	info, err := os.Stat(s.path)
	if err != nil {
		return nil, fmt.Errorf("config/file: %w", err)
	}
	if !info.IsDir() {
		data, err := os.ReadFile(s.path)
		if err != nil {
			return nil, fmt.Errorf("config/file: %w", err)
		}
		return []config.Document{{Name: s.path, Format: s.format, Data: data}}, nil
	}
	entries, err := os.ReadDir(s.path)
	if err != nil {
		return nil, fmt.Errorf("config/file: %w", err)
	}
	var docs []config.Document
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || (s.format == "" && config.FormatOf(name) == "") {
			continue
		}
		p := filepath.Join(s.path, name)
		st, err := os.Stat(p) // follows the symlinks ConfigMaps are made of
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a dangling link mid-swap; the next event reads it
			}
			return nil, fmt.Errorf("config/file: %w", err)
		}
		if !st.Mode().IsRegular() {
			continue
		}
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("config/file: %w", err)
		}
		docs = append(docs, config.Document{Name: p, Format: s.format, Data: data})
	}
	return docs, nil
}

// dirs lists the directories whose events can change what read returns: the
// path itself when it is a directory, otherwise its parent and, when the
// path is a symlink, the parent of its target.
func (s *Source) dirs() []string {
	if st, err := os.Stat(s.path); err == nil && st.IsDir() {
		return []string{s.path}
	}
	out := []string{filepath.Dir(s.path)}
	if real, err := filepath.EvalSymlinks(s.path); err == nil {
		if d := filepath.Dir(real); d != out[0] {
			out = append(out, d)
		}
	}
	return out
}

// Watch implements config.Source. It watches directories, not files, so it
// survives editors that write a new file and rename it over the old one and
// Kubernetes' swap of the "..data" symlink. A read that finds a document gone
// is confirmed by a second read before the deletion is delivered.
func (s *Source) Watch(ctx context.Context) (config.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &watcher{src: s, box: config.NewMailbox(), stop: make(chan struct{}), watched: map[string]bool{}}
	poll := s.poll
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		if poll <= 0 {
			poll = 2 * time.Second
		}
	} else {
		w.fs = fw
		if err := w.addDirs(); err != nil {
			_ = fw.Close()
			return nil, err
		}
	}
	w.done.Add(1)
	go w.run(poll)
	return w, nil
}

type watcher struct {
	src     *Source
	box     *config.Mailbox
	fs      *fsnotify.Watcher
	watched map[string]bool
	stop    chan struct{}
	once    sync.Once
	done    sync.WaitGroup
}

func (w *watcher) addDirs() error {
	if w.fs == nil {
		return nil
	}
	for _, d := range w.src.dirs() {
		if w.watched[d] {
			continue
		}
		if err := w.fs.Add(d); err != nil {
			if len(w.watched) == 0 {
				return fmt.Errorf("config/file: watching %s: %w", d, err)
			}
			continue // a symlink target's directory that vanished; retried later
		}
		w.watched[d] = true
	}
	return nil
}

func (w *watcher) run(poll time.Duration) {
	defer w.done.Done()
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.fs != nil {
		events, errs = w.fs.Events, w.fs.Errors
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var firstEvent time.Time
	armed := false
	confirming := false

	last, err := w.scan()
	haveLast := err == nil
	if haveLast {
		w.box.Put(last)
	} else {
		// Never report a read failure as "everything deleted".
		timer.Reset(100 * time.Millisecond)
		armed = true
	}
	arm := func() {
		now := time.Now()
		if !armed {
			firstEvent, armed = now, true
		} else if now.Sub(firstEvent) > 10*w.src.debounce {
			return // a steady stream of events must not postpone reading forever
		}
		timer.Reset(w.src.debounce)
	}
	for {
		select {
		case <-w.stop:
			timer.Stop()
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			arm()
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			arm() // an overflow lost events: read everything again
		case <-tick:
			arm()
		case <-timer.C:
			armed = false
			docs, err := w.scan()
			if err != nil {
				timer.Reset(time.Second) // unreadable for now; try again
				armed = true
				continue
			}
			_ = w.addDirs()
			if haveLast && lostDocument(last, docs) && !confirming {
				confirming = true
				timer.Reset(w.src.debounce)
				armed = true
				continue
			}
			confirming = false
			last, haveLast = docs, true
			w.box.Put(docs)
		}
	}
}

func (w *watcher) scan() ([]config.Document, error) {
	docs, err := w.src.read()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // deleted: an empty snapshot
	}
	return docs, err
}

func lostDocument(before, after []config.Document) bool {
	names := make(map[string]bool, len(after))
	for _, d := range after {
		names[d.Name] = true
	}
	for _, d := range before {
		if !names[d.Name] {
			return true
		}
	}
	return false
}

func (w *watcher) Next(ctx context.Context) ([]config.Document, error) { return w.box.Next(ctx) }

func (w *watcher) Stop() error {
	var err error
	w.once.Do(func() {
		close(w.stop)
		w.box.Close()
		w.done.Wait()
		if w.fs != nil {
			err = w.fs.Close()
		}
	})
	return err
}
