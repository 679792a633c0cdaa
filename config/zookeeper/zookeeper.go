package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/zkconn"
	"github.com/tianshu-go/tianshu/registry"
)

// Errors of this package, wrapped with details; test for them with errors.Is. They are the
// same values as registry/zookeeper's.
var (
	// ErrInvalidConfig: a path ZooKeeper would refuse, or a Put outside the source.
	ErrInvalidConfig = zkconn.ErrInvalidConfig
	// ErrNoAuth: ZooKeeper refused access to a node because of its ACL.
	ErrNoAuth = zkconn.ErrNoAuth
)

// Session is a ZooKeeper session kept alive by its owner: a *zookeeper.Registry of package
// registry/zookeeper is one. Sources read through it, so credentials, reconnection and
// session expiry are handled there, once.
type Session interface {
	// ConfigSession returns the session as a source reads through it. Only the registry
	// package implements it; applications pass the Registry to Node or Tree.
	ConfigSession() *zkconn.Session
}

// Source is a config.Source kept in ZooKeeper: either one node, whose data is one
// document, or the children of a node, one document per child in name order (a later child
// overrides an earlier one key by key). Documents are named by their node's path, so the
// format comes from its extension (/config/orders/app.yaml) unless WithFormat sets it.
// A missing node is an empty snapshot.
//
// It uses a Registry's session, and its watches are armed again after a session expiry.
// Create one with Node or Tree.
type Source struct {
	r      *zkconn.Session
	path   string
	tree   bool
	format config.Format
}

var _ config.Source = (*Source)(nil)

// Option configures a Source.
type Option func(*Source)

// WithFormat sets the format of every document of the source, for node names without a
// known extension.
func WithFormat(f config.Format) Option { return func(s *Source) { s.format = f } }

// Node returns a source holding the data of the node at path as one document, read through
// the session of s (a *zookeeper.Registry). A path ZooKeeper would refuse gives
// ErrInvalidConfig.
//
//	reg, err := zookeeper.New(ctx, []string{"zk1:2181"}) // registry/zookeeper
//	...
//	src, err := zkconfig.Node(reg, "/config/orders/app.yaml")
func Node(s Session, path string, opts ...Option) (*Source, error) {
	return newSource(s, path, false, opts)
}

// Tree returns a source holding one document per child of the node at path, ordered by
// child name, read through the session of s (a *zookeeper.Registry); grandchildren are not
// read. A path ZooKeeper would refuse gives ErrInvalidConfig.
func Tree(s Session, path string, opts ...Option) (*Source, error) {
	return newSource(s, path, true, opts)
}

func newSource(sess Session, path string, tree bool, opts []Option) (*Source, error) {
	if err := zkconn.CheckPath(path); err != nil {
		return nil, fmt.Errorf("%w: config path %q: %w", ErrInvalidConfig, path, err)
	}
	s := &Source{r: sess.ConfigSession(), path: path, tree: tree}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// String names the source in config errors and reports.
func (s *Source) String() string {
	if s.tree {
		return "zookeeper " + s.path + "/*"
	}
	return "zookeeper " + s.path
}

// Load reads the current documents. Without a session within ctx (and the session timeout)
// the error wraps registry.ErrUnavailable.
func (s *Source) Load(ctx context.Context) ([]config.Document, error) {
	if s.r.IsClosed() {
		return nil, fmt.Errorf("zookeeper: config %s: %w", s.path, registry.ErrClosed)
	}
	if err := s.r.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("zookeeper: config %s: %w", s.path, err)
	}
	return s.read(nil)
}

// Watch reads the documents, arming ZooKeeper watches on what it read, and returns a
// watcher whose first Next returns them. ctx bounds this first read.
func (s *Source) Watch(ctx context.Context) (config.Watcher, error) {
	if s.r.IsClosed() {
		return nil, fmt.Errorf("zookeeper: config %s: %w", s.path, registry.ErrClosed)
	}
	if err := s.r.WaitReady(ctx); err != nil {
		return nil, fmt.Errorf("zookeeper: config %s: %w", s.path, err)
	}
	armed := map[string]<-chan zk.Event{}
	docs, err := s.read(armed)
	if err != nil {
		return nil, err
	}
	w := &configWatcher{s: s, mb: config.NewMailbox(), armed: armed, done: make(chan struct{})}
	w.mb.Put(docs)
	go w.run()
	return w, nil
}

// read returns the current documents. With armed non-nil it also makes sure a watch covers
// each node read (a child watch on the tree's node, a data watch on each document, an exists
// watch on what is missing), arming only those not armed already: ZooKeeper watches fire
// once, and arming one twice would leave the library a channel that no one reads.
func (s *Source) read(armed map[string]<-chan zk.Event) ([]config.Document, error) {
	r := s.r
	watch := func(key string) bool { _, ok := armed[key]; return armed != nil && !ok }
	getData := func(p string) ([]byte, bool, error) {
		var data []byte
		var err error
		if watch("d" + p) {
			var ch <-chan zk.Event
			data, _, ch, err = r.Conn.GetW(p)
			if err == nil {
				armed["d"+p] = ch
			}
		} else {
			data, _, err = r.Conn.Get(p)
		}
		if errors.Is(err, zk.ErrNoNode) {
			return nil, false, nil
		}
		return data, err == nil, err
	}
	// exists arms an exists watch on a missing node and reports whether it appeared
	// meanwhile.
	exists := func(p string) (bool, error) {
		if !watch("e" + p) {
			ok, _, err := r.Conn.Exists(p)
			return ok, err
		}
		ok, _, ch, err := r.Conn.ExistsW(p)
		if err == nil && !ok {
			armed["e"+p] = ch
		}
		return ok, err
	}
	for range 5 {
		if !s.tree {
			data, ok, err := getData(s.path)
			if err != nil {
				return nil, wrapErr(r, "read", s.path, err)
			}
			if ok {
				return []config.Document{s.doc(s.path, data)}, nil
			}
			if there, err := exists(s.path); err != nil || !there {
				return nil, wrapErr(r, "watch", s.path, err)
			}
			continue
		}
		var children []string
		var err error
		if watch("c" + s.path) {
			var ch <-chan zk.Event
			children, _, ch, err = r.Conn.ChildrenW(s.path)
			if err == nil {
				armed["c"+s.path] = ch
			}
		} else {
			children, _, err = r.Conn.Children(s.path)
		}
		if errors.Is(err, zk.ErrNoNode) {
			if there, err := exists(s.path); err != nil || !there {
				return nil, wrapErr(r, "watch", s.path, err)
			}
			continue
		}
		if err != nil {
			return nil, wrapErr(r, "list", s.path, err)
		}
		slices.Sort(children)
		docs := make([]config.Document, 0, len(children))
		for _, c := range children {
			p := s.path + "/" + c
			data, ok, err := getData(p)
			if err != nil {
				return nil, wrapErr(r, "read", p, err)
			}
			if ok { // a child deleted meanwhile: the child watch brings the next list
				docs = append(docs, s.doc(p, data))
			}
		}
		return docs, nil
	}
	return nil, fmt.Errorf("zookeeper: config %s: %w: the node keeps appearing and vanishing", s.path, registry.ErrUnavailable)
}

func (s *Source) doc(p string, data []byte) config.Document {
	return config.Document{Name: p, Format: s.format, Data: data}
}

type configWatcher struct {
	s     *Source
	mb    *config.Mailbox
	armed map[string]<-chan zk.Event // owned by run
	done  chan struct{}
}

func (w *configWatcher) Next(ctx context.Context) ([]config.Document, error) {
	return w.mb.Next(ctx)
}

// Stop ends the watch and waits for its goroutine, which is at most in one ZooKeeper read.
func (w *configWatcher) Stop() error {
	w.mb.Close()
	<-w.done
	return nil
}

// run waits for any armed watch to fire, then reads again. A session expiry fires every
// watch with EventNotWatching; the next read, once the Registry has a session, arms them
// all again.
func (w *configWatcher) run() {
	defer close(w.done)
	r := w.s.r
	attempt, lastErr := 0, ""
	for {
		keys := make([]string, 0, len(w.armed))
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.mb.Done())},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(r.Closed)},
		}
		for k, ch := range w.armed {
			keys = append(keys, k)
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		i, v, _ := reflect.Select(cases)
		switch i {
		case 0:
			return
		case 1:
			w.mb.Close()
			return
		}
		delete(w.armed, keys[i-2])
		if ev, ok := v.Interface().(zk.Event); ok && ev.Type == zk.EventNotWatching {
			clear(w.armed) // the session is gone, and every watch with it
		}
		for {
			err := r.WaitReady(doneContext{w.mb.Done()})
			if err == nil {
				var docs []config.Document
				if docs, err = w.s.read(w.armed); err == nil {
					w.mb.Put(docs)
					attempt, lastErr = 0, ""
					break
				}
				if msg := err.Error(); msg != lastErr {
					lastErr = msg
					r.Log.Warn("cannot read a config source; retrying", "path", w.s.path, "err", err)
				}
			}
			if !sleepUntil(w.mb.Done(), r.Closed, backoff.Default.Delay(attempt)) {
				if r.IsClosed() {
					w.mb.Close()
				}
				return
			}
			attempt++
		}
	}
}

// sleepUntil waits d, and reports false if stop or closed came first.
func sleepUntil(stop, closed <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-closed:
		return false
	}
}

// doneContext is a context that ends when done is closed, for waits that must end with Stop.
type doneContext struct{ done <-chan struct{} }

func (c doneContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c doneContext) Done() <-chan struct{}       { return c.done }
func (c doneContext) Value(any) any               { return nil }
func (c doneContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// Put stores a document: name is its node's path, as Load names it; a missing node is
// created (persistent, with the Registry's ACL, parents included). It lets tools such as
// `tianshu config set` edit what the source serves; services only read.
func (s *Source) Put(ctx context.Context, name string, data []byte) error {
	if name != s.path && !(s.tree && path.Dir(name) == s.path) {
		return fmt.Errorf("%w: node %q is not in this source (%q)", ErrInvalidConfig, name, s.path)
	}
	if err := s.r.WaitReady(ctx); err != nil {
		return fmt.Errorf("zookeeper: config %s: %w", name, err)
	}
	if _, err := s.r.Conn.Set(name, data, -1); err == nil {
		return nil
	} else if !errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("zookeeper: set %s: %w", name, err)
	}
	if err := s.r.EnsureParents(path.Dir(name)); err != nil {
		return fmt.Errorf("zookeeper: create parents of %s: %w", name, err)
	}
	if _, err := s.r.Conn.Create(name, data, 0, s.r.ACL); err != nil {
		return fmt.Errorf("zookeeper: create %s: %w", name, err)
	}
	return nil
}

func wrapErr(s *zkconn.Session, op, path string, err error) error {
	return zkconn.WrapErr(op, path, s.User, err)
}
