package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tianshu-go/tianshu/config"
)

// Errors config set returns for a file it will not write, wrapped with the path and what
// to do instead.
var (
	// ErrReadOnly: the file, or the directory it would be replaced in, has no write
	// permission.
	ErrReadOnly = errors.New("read-only")
	// ErrManaged: the file belongs to a Kubernetes ConfigMap or Secret volume, which the
	// kubelet rewrites.
	ErrManaged = errors.New("managed by Kubernetes")
)

// maxLinks bounds the symlinks followed from a config path, as the kernel's ELOOP does.
const maxLinks = 40

// setFileKey writes value at a dotted key of a YAML or JSON file (see editDocument). The
// file is locked against other config sets for the whole read-modify-replace and replaced
// atomically, so a service watching it never sees half of it. A symlink is followed and its
// final target replaced, keeping the target's mode; the links stay links.
func setFileKey(ctx context.Context, path, key, value string, force bool) error {
	target, err := resolveTarget(path)
	if err != nil {
		return err
	}
	if err := checkWritable(target); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, target)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(target)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	format := config.FormatOf(target) // a link named app may point at app.yaml
	if format == "" {
		format = config.FormatOf(path)
	}
	out, err := editDocument(path, format, data, key, value, force)
	if err != nil {
		return err
	}
	return replaceFile(target, out)
}

// resolveTarget follows path's symlinks to the file that holds the config, which may not
// exist yet (a link to a file still to be written). It refuses files of a Kubernetes volume:
// the kubelet replaces them by swapping the volume's ..data link, so a write there is undone
// at the next sync and never reaches the ConfigMap.
func resolveTarget(path string) (string, error) {
	p := path
	for range maxLinks {
		if err := checkNotManaged(path, p); err != nil {
			return "", err
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			// Directories on the way may be links into a kubelet volume too.
			if real, err := filepath.EvalSymlinks(p); err == nil {
				if err := checkNotManaged(path, real); err != nil {
					return "", err
				}
			}
			return p, nil
		}
		dest, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(dest) {
			// Relative to the link's real directory: a lexical join would take the ".." of
			// dir-link/../x.yaml back out of the link rather than up from its target.
			dir := filepath.Dir(p)
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				dir = real
			}
			dest = filepath.Join(dir, dest)
		}
		p = dest
	}
	return "", fmt.Errorf("%s: more than %d symbolic links to follow", path, maxLinks)
}

// checkNotManaged refuses p, reached from the user's path, when it lies in the layout the
// kubelet writes: <mount>/<file> -> ..data/<file>, ..data -> ..<timestamp>.
func checkNotManaged(path, p string) error {
	dir := ""
	for _, elem := range strings.Split(filepath.ToSlash(p), "/") {
		if elem == "..data" || len(elem) > 2 && strings.HasPrefix(elem, "..") && elem[2] >= '0' && elem[2] <= '9' {
			dir = elem
			break
		}
	}
	if dir == "" {
		if fi, err := os.Lstat(filepath.Join(filepath.Dir(p), "..data")); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			dir = "..data"
		}
	}
	if dir == "" {
		return nil
	}
	return fmt.Errorf("%w: %s is a file of a Kubernetes ConfigMap or Secret volume (it goes through %s, "+
		"which the kubelet swaps on every sync): a change written here would not reach the ConfigMap and "+
		"would be undone; change the ConfigMap instead (kubectl edit configmap <name>)", ErrManaged, path, dir)
}

// checkWritable refuses a target whose file or directory nobody may write. Replacing the
// file needs only the directory, but a file without write permission is read-only on
// purpose, and renaming over it would quietly defeat that.
func checkWritable(target string) error {
	if fi, err := os.Stat(target); err == nil && (fi.Mode().Perm()&0o222 == 0 || !canWrite(target)) {
		return fmt.Errorf("%w: %s (mode %v) may not be written; make it writable (chmod u+w) if it is meant to change", ErrReadOnly, target, fi.Mode().Perm())
	}
	dir := filepath.Dir(target)
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o222 == 0 || !canWrite(dir) {
		return fmt.Errorf("%w: the directory %s (mode %v) may not be written, and config set replaces %s by writing a new file there and renaming it",
			ErrReadOnly, dir, fi.Mode().Perm(), filepath.Base(target))
	}
	return nil
}

// replaceFile replaces path's content through a temporary file in its directory and a
// rename, keeping its mode (and, where allowed, its owner): a reader sees the old content
// or the new, never a mixture.
func replaceFile(path string, data []byte) error {
	mode := os.FileMode(0o644)
	old, err := os.Stat(path)
	if err == nil {
		mode = old.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil && old != nil {
		keepOwner(tmp, old)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lockFile takes the lock of target's config sets: a file beside it, .<name>.lock, locked
// while held and removed on release. It waits for ctx.
func lockFile(ctx context.Context, target string) (unlock func(), err error) {
	lp := filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".lock")
	unlock, err = acquire(ctx, lp)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("another config set of %s held its lock (%s) until the timeout (--timeout sets it); if none is running, remove the lock file", target, lp)
		}
		return nil, fmt.Errorf("lock %s: %w", lp, err)
	}
	return unlock, nil
}
