// Package atomicfile replaces a file's content in one step, for the registry's entry files
// and failover cache.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path through a temporary file in the same directory (its name
// starts with a dot, so directory scanners can skip it) and a rename: a reader sees the
// old content or the new, never a mixture, and concurrent writers of one path leave one
// whole document. The file ends up with mode 0644 so that other users' processes can read
// it. It does not fsync: what it writes is worthless after a power loss anyway.
func Write(path string, data []byte) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
