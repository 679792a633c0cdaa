//go:build unix

package file_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestAFIFOInTheDirectoryDoesNotBlockScans(t *testing.T) {
	dir := t.TempDir()
	r := open(t, dir)
	writeEntry(t, dir, "orders", "a.json", entryDoc("orders", "a", os.Getpid(), hostname()), time.Now())
	if err := syscall.Mkfifo(filepath.Join(dir, "orders", "pipe.json"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	list, err := r.GetService(ctxFor(t), "orders")
	if err != nil || !slices.Equal(ids(list), []string{"a"}) {
		t.Fatalf("GetService = %v, %v; want [a]", ids(list), err)
	}
}
