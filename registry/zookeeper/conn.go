package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/zkconn"
)

// hostProvider hands go-zookeeper the servers to try, one after another, and waits a capped,
// jittered, growing delay before each new round over the list after a round in which no
// server could be reached. The library adds a fixed second of its own between rounds; alone,
// that would make every client of a restarted ensemble retry in lock-step.
type hostProvider struct {
	policy backoff.Policy
	stop   <-chan struct{}

	mu      sync.Mutex
	servers []string
	next    int // index of the server Next returns
	tried   int // servers tried since the last successful connection
	rounds  int // whole rounds failed since the last successful connection
}

func (h *hostProvider) Init(servers []string) error {
	if len(servers) == 0 {
		return errors.New("zookeeper: no server")
	}
	h.mu.Lock()
	h.servers = append([]string(nil), servers...)
	h.mu.Unlock()
	return nil
}

func (h *hostProvider) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.servers)
}

// Next returns the next server. When the previous round failed it first sleeps the backoff
// delay (cut short by Close) and reports retryStart, which makes the library fail the
// requests queued meanwhile (ErrNoServer) rather than hold them.
func (h *hostProvider) Next() (string, bool) {
	h.mu.Lock()
	retry := h.tried >= len(h.servers)
	var wait time.Duration
	if retry {
		h.tried = 0
		wait = h.policy.Delay(h.rounds)
		h.rounds++
	}
	s := h.servers[h.next]
	h.next = (h.next + 1) % len(h.servers)
	h.tried++
	h.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-h.stop:
			t.Stop()
		}
	}
	return s, retry
}

func (h *hostProvider) Connected() {
	h.mu.Lock()
	h.tried, h.rounds = 0, 0
	h.mu.Unlock()
}

// zkLogger routes go-zookeeper's messages to slog at debug level: they repeat on every
// reconnection attempt, and the Registry logs each change of state once itself.
type zkLogger struct{ log *slog.Logger }

func (l zkLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "from", "go-zookeeper")
	}
}

// isConnectionError reports errors that mean "no usable session right now", after which a
// later attempt may succeed by itself.
func isConnectionError(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) ||
		errors.Is(err, zk.ErrClosing)
}

// wrapErr turns a go-zookeeper error about path into one of this package's or registry's
// sentinel errors, keeping the original in the chain.
func (r *Registry) wrapErr(op, path string, err error) error {
	return zkconn.WrapErr(op, path, r.opts.user, err)
}
