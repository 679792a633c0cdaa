package config

import (
	"bytes"
	"context"
	"errors"
	"path"
	"sort"
	"strings"
	"sync"
)

// Format names the encoding of a Document's bytes.
type Format string

// The formats every Config decodes. WithDecoder adds others.
const (
	YAML       Format = "yaml"
	JSON       Format = "json"
	TOML       Format = "toml"
	Properties Format = "properties"
)

// FormatOf guesses a document's format from the extension of its name
// (".yaml", ".yml", ".json", ".toml", ".properties"). It returns "" for any
// other name.
func FormatOf(name string) Format {
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml":
		return YAML
	case ".json":
		return JSON
	case ".toml":
		return TOML
	case ".properties":
		return Properties
	}
	return ""
}

// Document is one named key/value document as a source holds it: a file, a
// ZooKeeper node, a Nacos dataId, an etcd key.
type Document struct {
	// Name identifies the document within its source and appears in every
	// error about its content ("/etc/app/app.yaml:3:7: ..."). Names are
	// unique within one snapshot.
	Name string
	// Format tells how to decode Data. When empty, the Config guesses it from
	// Name's extension (see FormatOf).
	Format Format
	// Data is the document's full content. Sources hand over ownership: the
	// Config never modifies it and the source must not either.
	Data []byte
	// Origins optionally names, by dotted key as Data spells it, where each
	// value came from when that says more than Name: the environment source
	// maps "db.port" to "env APP_DB__PORT", the flags source to "flag
	// -db.port". Errors about a key name its origin instead of Name. Equal
	// ignores it: it must follow from Data.
	Origins map[string]string
}

// Equal reports whether d and o have the same name, format and content.
func (d Document) Equal(o Document) bool {
	return d.Name == o.Name && d.Format == o.Format && bytes.Equal(d.Data, o.Data)
}

// SameDocuments reports whether two snapshots hold equal documents in the
// same order.
func SameDocuments(a, b []Document) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// Source supplies documents to a Config. A source's state at any moment is a
// snapshot: the ordered list of documents it currently holds. Within one
// source, a later document overrides an earlier one key by key. A document
// that disappears from a snapshot has been deleted and its keys leave the
// merged config; an empty snapshot is a valid state (nothing is configured
// there), not an error.
//
// Implementations must be safe for concurrent use: a Config may call Load
// while watchers obtained from Watch are running. A Source that implements
// fmt.Stringer is named by its String in errors about loading and watching
// it ("file /etc/app/app.yaml"); others are named by their position and type.
type Source interface {
	// Load returns the source's current snapshot. It is called by New before
	// any watcher starts and may be called again at any time (tools such as
	// `tianshu config get` call only Load). It may block on I/O, but must
	// return once ctx is done, with an error wrapping ctx.Err(). A missing
	// remote key is an empty snapshot, not an error; an unreachable backend is
	// an error.
	Load(ctx context.Context) ([]Document, error)

	// Watch starts watching and returns at once, without waiting for a
	// change; ctx bounds the set-up only (connecting, registering a
	// listener), never the watcher's lifetime, which lasts until Stop. Every
	// change made after Watch returns reaches the watcher. A
	// source that cannot change (environment, flags, constants) returns
	// ErrNotWatchable and the Config does not watch it.
	Watch(ctx context.Context) (Watcher, error)
}

// Watcher delivers a source's snapshots as they change. One Config goroutine
// owns each Watcher and calls Next in a loop; Stop may be called from any
// goroutine.
type Watcher interface {
	// Next blocks until there is a snapshot the caller has not seen and
	// returns it in full (never a delta). The first call returns the current
	// snapshot at once, even when it is empty, so that no change between Load
	// and Watch is lost. Later calls return only after a change; a source
	// may coalesce a burst of changes into its final snapshot but must never
	// return an older state after a newer one, and must never withhold the
	// last state of a burst.
	//
	// Next returns ErrStopped once Stop has been called (also to a call
	// blocked when Stop ran), and an error wrapping ctx.Err() when ctx is
	// done; the watcher stays usable after a ctx error. Any other error
	// reports a backend trouble: the caller logs it, waits, and calls Next
	// again, so the watcher must stay usable and must keep retrying by
	// itself. Next is never called concurrently with itself.
	Next(ctx context.Context) ([]Document, error)

	// Stop ends the watch, unblocks a pending Next and releases every
	// goroutine and connection the watcher started before it returns. It is
	// safe to call more than once and from any goroutine; it must not block
	// on the network for long.
	Stop() error
}

var (
	// ErrStopped is returned by Watcher.Next after Stop, and by Config
	// methods after Close.
	ErrStopped = errors.New("config: stopped")
	// ErrNotWatchable is returned by Source.Watch for sources whose content
	// cannot change while the process runs.
	ErrNotWatchable = errors.New("config: source cannot be watched")
)

// Mailbox is a building block for Watcher implementations. A producer
// goroutine Puts full snapshots; Next returns the newest one that differs from
// the last one returned. Put never blocks: an undelivered snapshot is replaced
// by a newer one, so a slow reader neither stalls the producer nor misses the
// final state, and never sees an older state after a newer one.
//
// The zero Mailbox is not usable; call NewMailbox.
type Mailbox struct {
	mu        sync.Mutex
	pending   []Document
	has       bool // pending holds a snapshot not yet returned
	delivered []Document
	first     bool // Next has returned at least once
	closed    bool
	wake      chan struct{}
	done      chan struct{}
}

// NewMailbox returns an empty, open Mailbox.
func NewMailbox() *Mailbox {
	return &Mailbox{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Put offers a snapshot. Puts after Close are ignored. The Mailbox keeps docs;
// the caller must not modify it afterwards.
func (m *Mailbox) Put(docs []Document) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	if m.first && SameDocuments(docs, m.delivered) {
		// Back to what the reader already has: nothing to deliver.
		m.pending, m.has = nil, false
		return
	}
	m.pending, m.has = docs, true
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Next implements Watcher.Next on top of the snapshots Put so far. The first
// call blocks until the first Put.
func (m *Mailbox) Next(ctx context.Context) ([]Document, error) {
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrStopped
		}
		if m.has {
			docs := m.pending
			m.pending, m.has = nil, false
			m.delivered, m.first = docs, true
			m.mu.Unlock()
			return docs, nil
		}
		m.mu.Unlock()
		select {
		case <-m.wake:
		case <-m.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close makes every pending and future Next return ErrStopped. It is safe to
// call more than once.
func (m *Mailbox) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
	}
}

// Done is closed by Close; producers select on it to learn that they should
// exit.
func (m *Mailbox) Done() <-chan struct{} { return m.done }

// Bytes returns a Source holding one constant document, for defaults compiled
// into the binary or tests. Its Watch returns ErrNotWatchable.
func Bytes(name string, format Format, data []byte) Source {
	return staticSource{docs: []Document{{Name: name, Format: format, Data: data}}}
}

type staticSource struct{ docs []Document }

func (s staticSource) Load(context.Context) ([]Document, error) { return s.docs, nil }

func (s staticSource) Watch(context.Context) (Watcher, error) { return nil, ErrNotWatchable }

// PropertiesDocument encodes flat dotted keys ("db.host") and their text
// values as one .properties document, so that sources of flat settings (the
// environment, flags, a remote key-per-setting store) share the properties
// decoder's nesting and error reporting. Keys come out sorted.
func PropertiesDocument(name string, values map[string]string) Document {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		escapeProperty(&b, k, true)
		b.WriteByte('=')
		escapeProperty(&b, values[k], false)
		b.WriteByte('\n')
	}
	return Document{Name: name, Format: Properties, Data: []byte(b.String())}
}

// escapeProperty writes s so that the properties decoder reads it back
// unchanged. (The library's own writer leaves a leading '#' or '!' in a key
// bare, which then reads as a comment.)
func escapeProperty(b *strings.Builder, s string, key bool) {
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == ' ' && (key || i == 0):
			b.WriteString(`\ `)
		case (r == '=' || r == ':') && key:
			b.WriteByte('\\')
			b.WriteRune(r)
		case (r == '#' || r == '!') && key && i == 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
}
