// Package file is Tianshu's embedded registry: the processes of one host find each other
// through a shared directory, with no server to run. It is the default backend.
//
//	reg, err := file.New(ctx, "") // the directory is DefaultDir()
//	if err != nil { ... }
//	defer reg.Close()
//	err = reg.Register(ctx, instance)
//	w, err := reg.Watch(ctx, "orders")
//
// Importing the package also lets registry.Open take file:///absolute/path URLs, with the
// optional parameters heartbeat, ttl and poll (positive Go durations):
// file:///run/tianshu?ttl=2s. file:// alone opens DefaultDir(). The URL is read by the
// rules every backend shares (see ParseURL and registry.URLParser): the host is empty or
// localhost, and an unknown, repeated or empty parameter is an error, never ignored, so that
// a misspelt one does not pass silently. Errors wrap ErrInvalidConfig and
// registry.ErrInvalidURL.
//
// # Layout
//
// Each instance is one file, <dir>/<service>/<instance ID>.json (the ID path-escaped),
// holding a JSON document:
//
//	{
//	  "format": 1,
//	  "instance": {"id": "orders-1", "service": "orders", "endpoints": ["grpc://127.0.0.1:9000"], ...},
//	  "pid": 4242,
//	  "host": "build-7",
//	  "pidns": "pid:[4026531836]",
//	  "ttl_ms": 2000
//	}
//
// "instance" is a registry.Instance in its JSON form; pid, host and pidns (the PID namespace,
// on Linux) name the owning process, and ttl_ms is the TTL the owner chose (WithTTL): the
// owner knows how often it heartbeats, so readers honour its TTL rather than their own.
// Writers write a temporary file whose name starts with a dot in the same directory and rename
// it into place, so a reader never sees half an entry and concurrent writers of one entry
// leave one whole document. Readers ignore files whose names start with a dot or do not end in
// .json. A file that does not parse, holds a newer format, or sits under a name or directory
// that does not match its instance is skipped and logged once (a warning naming the file and
// the problem). A file whose JSON ends early and that was modified less than a second ago is
// taken to be still being written by a writer that does not rename (cp, an editor saving in
// place) and is skipped without a word: it is logged once, for what it holds when its writer
// is done.
//
// # Liveness
//
// The owning process refreshes each entry's modification time every heartbeat interval
// (writing the entry again if it disappeared), and removes it on Deregister and Close. A
// reader lists an entry while its modification time is within the entry's TTL and, when its
// host and PID namespace are the reader's own, while its process exists and is not a zombie.
// So a provider killed with SIGKILL leaves the lists of watchers
//
//   - on its own host, within one poll interval (default 0.5 s);
//   - elsewhere (a directory shared over a network file system), within TTL + poll interval
//     (default 2.5 s), provided the clocks agree.
//
// A TTL of three or more heartbeats keeps an entry listed while its owner is merely slow.
// GetService reads the directory on every call and sees the same thing at once. Entries
// without a heartbeat for ten TTLs (at least a minute) are deleted by whichever Registry
// scans them; a live process writes its entry back on its next heartbeat should that ever
// happen to it after a long pause. File systems with a timestamp resolution coarser than
// the heartbeat interval (FAT) are not supported.
//
// # Watching
//
// A Registry runs one scanner per watched service, shared by all its watchers, which rescans
// when fsnotify reports a change in the service directory (heartbeats, which only touch
// times, are ignored) and every poll interval. Where fsnotify is unavailable, polling alone
// keeps watchers current, one poll interval behind.
package file
