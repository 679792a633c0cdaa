package file

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// maxEntrySize bounds what a scan reads from one file, so that a stray large file in the
// directory costs nothing. A real entry is a few hundred bytes.
const maxEntrySize = 1 << 20

// serviceDir reads the entries of one service. It remembers each file's last content and
// parsed entry, so that a scan re-parses only files whose content changed.
//
// Content, not the inode number, is the cache key: every write replaces the file with a new
// inode, but file systems such as ext4 hand a freed inode number to the next file created,
// so an (name, inode) key could keep serving an instance's old data after two quick
// updates. Entries are small, and reading one costs about as much as the stat a scan needs
// for the heartbeat time anyway.
type serviceDir struct {
	service string
	path    string

	mu    sync.Mutex
	cache map[string]cachedEntry // by file name
	bad   map[string]string      // file name -> the problem last logged for it
}

type cachedEntry struct {
	data []byte
	e    *entry
}

func newServiceDir(root, service string) *serviceDir {
	return &serviceDir{
		service: service,
		path:    filepath.Join(root, service),
		cache:   map[string]cachedEntry{},
		bad:     map[string]string{},
	}
}

// scanConfig is what a scan needs from its Registry.
type scanConfig struct {
	self owner // also gives the TTL of entries that declare none
	log  *slog.Logger
}

// staleAfter is how long an entry must have gone without a heartbeat before any Registry
// may delete its file: far above any TTL that makes sense, so that only the leftovers of
// dead processes are removed, never the entry of a slow one.
func staleAfter(ttl time.Duration) time.Duration { return max(time.Minute, 10*ttl) }

// scan returns the live instances of the service, sorted by ID. A missing service directory
// is an empty service. Along the way it deletes entries and temporary files that have not
// been touched for staleAfter, which no live process leaves behind.
func (sd *serviceDir) scan(cfg *scanConfig) ([]*registry.Instance, error) {
	sd.mu.Lock()
	defer sd.mu.Unlock()
	dirents, err := os.ReadDir(sd.path)
	if errors.Is(err, fs.ErrNotExist) {
		clear(sd.cache)
		clear(sd.bad)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	seen := make(map[string]bool, len(dirents))
	gone := map[int]bool{cfg.self.pid: false} // process checks of this scan, by PID
	var list []*registry.Instance
	for _, de := range dirents {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			sd.removeStaleTemp(cfg, name, now)
			continue
		}
		// Entries are regular files; anything else (a FIFO would block the open) is not ours.
		if !de.Type().IsRegular() || !isEntryName(name) {
			continue
		}
		seen[name] = true
		e, info, err := sd.read(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			if !midWrite(err, info, now) {
				sd.skip(cfg.log, name, err)
			}
			continue
		}
		age, ttl := now.Sub(info.ModTime()), e.ttl(cfg.self.ttl)
		if age > ttl || cfg.self.sameMachine(e) && checkGone(gone, e.PID) {
			if age > staleAfter(ttl) {
				sd.removeStale(cfg, name, info, staleAfter(ttl))
			}
			continue
		}
		list = append(list, e.Instance)
	}
	for name := range sd.cache {
		if !seen[name] {
			delete(sd.cache, name)
		}
	}
	for name := range sd.bad {
		if !seen[name] {
			delete(sd.bad, name)
		}
	}
	registry.SortInstances(list)
	return list, nil
}

// checkGone reports whether a process is gone, checking each PID once per scan: several
// instances often share a process.
func checkGone(memo map[int]bool, pid int) bool {
	g, ok := memo[pid]
	if !ok {
		g = processGone(pid)
		memo[pid] = g
	}
	return g
}

// writeGrace is how long after its last modification a file that ends early is taken to be
// still being written. Only writers that do not rename (cp, an editor saving in place) let a
// reader see that, and they finish in far less.
const writeGrace = time.Second

// midWrite reports whether a file that read could not use is, by all signs, still being
// written: its JSON ends early and it was modified moments ago. It is skipped without a word,
// so that a file is logged once, for what it holds when its writer is done; one that stays
// cut short is logged by the first scan after writeGrace.
func midWrite(err error, info fs.FileInfo, now time.Time) bool {
	if info == nil || !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false
	}
	age := now.Sub(info.ModTime())
	return age < writeGrace && age > -writeGrace // a clock a little ahead is still "moments ago"
}

// read returns the entry in a file and the file's metadata, both from one open file so that
// the heartbeat time judged belongs to the content read. The metadata comes with a parse
// error too, for midWrite.
func (sd *serviceDir) read(name string) (*entry, fs.FileInfo, error) {
	f, err := os.Open(filepath.Join(sd.path, name))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%v is not a regular file", info.Mode().Type())
	}
	if info.Size() > maxEntrySize {
		return nil, nil, fmt.Errorf("file of %d bytes is larger than an entry can be (%d)", info.Size(), maxEntrySize)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, nil, err
	}
	if c, ok := sd.cache[name]; ok && bytes.Equal(c.data, data) {
		return c.e, info, nil
	}
	delete(sd.cache, name)
	e, err := parseEntry(data)
	if err == nil {
		err = checkPlacement(e, sd.service, name)
	}
	if err != nil {
		return nil, info, err
	}
	sd.cache[name] = cachedEntry{data: data, e: e}
	delete(sd.bad, name)
	return e, info, nil
}

// skip logs a file it cannot use, once per distinct problem: a scan runs every poll
// interval, and the same broken file must not fill the log.
func (sd *serviceDir) skip(log *slog.Logger, name string, err error) {
	msg := err.Error()
	if sd.bad[name] == msg {
		return
	}
	sd.bad[name] = msg
	log.Warn("skipping malformed registry entry", "file", filepath.Join(sd.path, name), "err", err)
}

// removeStale deletes an entry that has not heartbeated for staleAfter, after checking that
// the file was not replaced since it was judged. Should its owner have been paused that long
// and write it again between the check and the removal, the owner's next heartbeat notices
// the missing file and writes it back.
func (sd *serviceDir) removeStale(cfg *scanConfig, name string, judged fs.FileInfo, after time.Duration) {
	path := filepath.Join(sd.path, name)
	now, err := os.Stat(path)
	if err != nil || !os.SameFile(now, judged) || time.Since(now.ModTime()) <= after {
		return
	}
	if err := os.Remove(path); err == nil {
		cfg.log.Debug("removed stale registry entry", "file", path, "last heartbeat", now.ModTime())
	}
}

// removeStaleTemp deletes a temporary file left by a writer that died between creating and
// renaming it.
func (sd *serviceDir) removeStaleTemp(cfg *scanConfig, name string, now time.Time) {
	if !strings.HasSuffix(name, ".tmp") {
		return
	}
	path := filepath.Join(sd.path, name)
	info, err := os.Lstat(path)
	if err == nil && info.Mode().IsRegular() && now.Sub(info.ModTime()) > staleAfter(cfg.self.ttl) {
		_ = os.Remove(path)
	}
}
