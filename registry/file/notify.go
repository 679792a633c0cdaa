package file

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// notifier turns file-system events in watched service directories into wake-ups of their
// scanners. One notifier (one inotify instance on Linux) serves every service a Registry
// watches, because the number of inotify instances per user is small (128 by default).
//
// It only makes changes visible sooner: scanners also rescan every poll interval, so a
// directory whose watch could not be set up, or was lost, is still followed.
type notifier struct {
	fw   *fsnotify.Watcher
	log  *slog.Logger
	done chan struct{}

	mu     sync.Mutex
	kicks  map[string]chan<- struct{} // service directory -> its scanner's wake-up
	active map[string]bool            // directories fsnotify currently watches
	failed map[string]string          // directory -> last Add error logged
}

func newNotifier(log *slog.Logger) (*notifier, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	n := &notifier{
		fw:     fw,
		log:    log,
		done:   make(chan struct{}),
		kicks:  map[string]chan<- struct{}{},
		active: map[string]bool{},
		failed: map[string]string{},
	}
	go n.run()
	return n, nil
}

// watch starts forwarding events in dir to kick.
func (n *notifier) watch(dir string, kick chan<- struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.kicks[dir] = kick
	n.ensureLocked(dir)
}

// ensure re-adds the watch of dir if it was lost (the directory was removed and made again).
func (n *notifier) ensure(dir string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.kicks[dir]; ok {
		n.ensureLocked(dir)
	}
}

func (n *notifier) ensureLocked(dir string) {
	if n.active[dir] {
		return
	}
	if err := n.fw.Add(dir); err != nil {
		if n.failed[dir] != err.Error() {
			n.failed[dir] = err.Error()
			n.log.Warn("cannot watch registry directory; polling it", "dir", dir, "err", err)
		}
		return
	}
	delete(n.failed, dir)
	n.active[dir] = true
}

// unwatch stops forwarding events in dir.
func (n *notifier) unwatch(dir string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.kicks, dir)
	delete(n.failed, dir)
	if n.active[dir] {
		delete(n.active, dir)
		_ = n.fw.Remove(dir)
	}
}

func (n *notifier) close() {
	_ = n.fw.Close()
	<-n.done
}

func (n *notifier) run() {
	defer close(n.done)
	for {
		select {
		case ev, ok := <-n.fw.Events:
			if !ok {
				return
			}
			n.handle(ev)
		case err, ok := <-n.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				n.kickAll()
			} else {
				n.log.Debug("file-system watch error", "err", err)
			}
		}
	}
}

func (n *notifier) handle(ev fsnotify.Event) {
	// Heartbeats change only the modification time: a Chmod event every heartbeat of
	// every instance. The periodic scan judges heartbeat times; events are for content.
	if ev.Op == fsnotify.Chmod {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if kick, ok := n.kicks[ev.Name]; ok {
		// The watched directory itself went away; its watch is gone with it.
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			delete(n.active, ev.Name)
			wake(kick)
		}
		return
	}
	dir, base := filepath.Split(ev.Name)
	if strings.HasPrefix(base, ".") {
		return // a writer's temporary file; its rename into place is an event of its own
	}
	if kick, ok := n.kicks[filepath.Clean(dir)]; ok {
		wake(kick)
	}
}

func (n *notifier) kickAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, kick := range n.kicks {
		wake(kick)
	}
}

// wake signals a scanner without blocking; a pending signal already covers this change.
func wake(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}
