//go:build unix

package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// acquire locks the file lp with flock, creating it, and returns the function that removes
// and unlocks it. A holder removes the file before unlocking, so a waiter that locked the
// removed file starts again with the new one: only the holder of the file at lp holds the
// lock.
func acquire(ctx context.Context, lp string) (func(), error) {
	wait := time.Millisecond
	for {
		// Read-only is enough for flock, and lets users who may write the config but not
		// the lock file of another user share it.
		f, err := os.OpenFile(lp, os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		for {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
				break
			}
			select {
			case <-ctx.Done():
				f.Close()
				return nil, ctx.Err()
			case <-time.After(wait):
			}
			wait = min(2*wait, 20*time.Millisecond)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		held, herr := f.Stat()
		now, nerr := os.Stat(lp)
		if herr == nil && nerr == nil && os.SameFile(held, now) {
			return func() {
				_ = os.Remove(lp)
				_ = f.Close()
			}, nil
		}
		f.Close()
		if nerr != nil && !errors.Is(nerr, fs.ErrNotExist) {
			return nil, nerr
		}
	}
}

// canWrite reports whether this process may write p, as access(2) says (root may write
// anything on a writable file system).
func canWrite(p string) bool {
	const wOK = 2
	return syscall.Access(p, wOK) == nil
}

// keepOwner gives the new file the old one's owner when this process may (root editing
// another user's config); otherwise the new file is this user's.
func keepOwner(f *os.File, old fs.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid()) {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
