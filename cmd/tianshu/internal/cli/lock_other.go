//go:build !unix

package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// acquire creates the file lp exclusively, waiting for ctx while another process has it,
// and returns the function that removes it.
func acquire(ctx context.Context, lp string) (func(), error) {
	for {
		f, err := os.OpenFile(lp, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { _ = os.Remove(lp) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func canWrite(string) bool { return true }

func keepOwner(*os.File, fs.FileInfo) {}
