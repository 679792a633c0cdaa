package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// formatVersion is written into every entry. A reader skips entries of a newer format it
// cannot understand rather than guessing at their meaning.
const formatVersion = 1

// entryExt ends the name of every entry file; other files in a service directory are ignored.
const entryExt = ".json"

// entry is the document stored in one entry file.
type entry struct {
	Format   int                `json:"format"`
	Instance *registry.Instance `json:"instance"`
	// PID, Host and PIDNS identify the owning process, so that a reader on the same host
	// (and in the same PID namespace) can tell a crashed owner without waiting for the TTL.
	PID   int    `json:"pid"`
	Host  string `json:"host"`
	PIDNS string `json:"pidns,omitempty"`
	// TTLMillis is how long after its last heartbeat the entry stops being listed. The
	// writer sets it, because only the writer knows how often it heartbeats; entries
	// without it get the reader's TTL.
	TTLMillis int64 `json:"ttl_ms,omitempty"`
}

// maxTTL bounds the TTL an entry may declare, so that a bad file cannot keep an instance
// listed for years.
const maxTTL = 24 * time.Hour

// ttl returns the entry's TTL, or def when it declares none.
func (e *entry) ttl(def time.Duration) time.Duration {
	if e.TTLMillis > 0 {
		return time.Duration(e.TTLMillis) * time.Millisecond
	}
	return def
}

// owner is who writes an entry: this process, and the TTL it promises to heartbeat within.
type owner struct {
	pid   int
	host  string
	pidns string
	ttl   time.Duration
}

// sameMachine reports whether a process check for e's PID is meaningful here: it names the
// same host and the same PID namespace (containers sharing a host name see other PIDs).
func (o owner) sameMachine(e *entry) bool {
	return e.Host == o.host && e.PIDNS == o.pidns
}

func marshalEntry(o owner, in *registry.Instance) ([]byte, error) {
	b, err := json.MarshalIndent(entry{
		Format: formatVersion, Instance: in,
		PID: o.pid, Host: o.host, PIDNS: o.pidns, TTLMillis: o.ttl.Milliseconds(),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseEntry decodes and checks an entry file's content. Unknown fields are allowed so that a
// later minor change can add some; a newer format number is refused.
func parseEntry(data []byte) (*entry, error) {
	var e entry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("not an entry document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not an entry document: data after the JSON object")
	}
	if e.Format != formatVersion {
		return nil, fmt.Errorf("entry format %d, this reader understands %d", e.Format, formatVersion)
	}
	if err := e.Instance.Validate(); err != nil {
		return nil, err
	}
	if e.PID <= 0 {
		return nil, fmt.Errorf("owner pid %d is not a process ID", e.PID)
	}
	if e.TTLMillis < 0 || e.TTLMillis > maxTTL.Milliseconds() {
		return nil, fmt.Errorf("ttl_ms %d is outside 0-%d", e.TTLMillis, maxTTL.Milliseconds())
	}
	return &e, nil
}

// entryFileName returns the file name of an instance's entry. IDs are already restricted
// to characters safe in a path segment; escaping keeps that true if the rule ever relaxes.
func entryFileName(id string) string { return url.PathEscape(id) + entryExt }

// checkPlacement reports an entry stored under a name or directory that does not match its
// instance, such as a file copied by hand: it would shadow or duplicate another entry.
func checkPlacement(e *entry, service, fileName string) error {
	if e.Instance.Service != service {
		return fmt.Errorf("instance of service %q stored in the directory of %q", e.Instance.Service, service)
	}
	if want := entryFileName(e.Instance.ID); fileName != want {
		return fmt.Errorf("instance %q stored as %q, want %q", e.Instance.ID, fileName, want)
	}
	return nil
}

// isEntryName reports whether a directory entry may be an entry file: temporary files start
// with a dot and are never read.
func isEntryName(name string) bool {
	return !strings.HasPrefix(name, ".") && strings.HasSuffix(name, entryExt)
}
