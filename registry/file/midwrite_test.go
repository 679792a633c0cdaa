package file_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry/file"
)

// A writer that does not rename (cp, an editor saving in place, a shell
// redirection) empties the file and then fills it, so a scan can see it empty
// or cut short. That is not a problem to report: the file is logged once, for
// what it holds when the writer is done.
func TestAFileCaughtMidWriteIsLoggedOnceForWhatItEndsUpHolding(t *testing.T) {
	good := entryDoc("orders", "mid", os.Getpid(), hostname())
	future := strings.Replace(entryDoc("orders", "mid", os.Getpid(), hostname()), `"format": 1`, `"format": 2`, 1)
	longAgo := time.Now().Add(-time.Minute)
	tests := []struct {
		name       string
		first      string    // what the scan catches
		firstTime  time.Time // its modification time; zero means now
		final      string    // what the writer leaves; "" means it stops at first
		finalTime  time.Time // zero means now
		wantLogged int
		wantText   string
		wantListed bool
	}{
		{name: "caught empty, then written with a problem", first: "", final: future,
			wantLogged: 1, wantText: "entry format 2"},
		{name: "caught half written, then written with a problem", first: future[:len(future)/2], final: future,
			wantLogged: 1, wantText: "entry format 2"},
		{name: "caught empty, then written well", first: "", final: good, wantListed: true},
		{name: "caught half written, then written well", first: good[:len(good)/2], final: good, wantListed: true},
		{name: "left half written by a writer that died long ago", first: good[:len(good)/2], firstTime: longAgo,
			wantLogged: 1, wantText: "unexpected EOF"},
		{name: "caught half written, and still so a minute later", first: good[:len(good)/2],
			final: good[:len(good)/2], finalTime: longAgo, wantLogged: 1, wantText: "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var logs logBuffer
			r := open(t, dir, file.WithLogger(logs.logger()))
			ctx := ctxFor(t)
			if err := os.MkdirAll(filepath.Join(dir, "orders"), 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "orders", "mid.json")
			write := func(content string, mtime time.Time) {
				t.Helper()
				// In place, as such writers do: no temporary file, no rename.
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				if !mtime.IsZero() {
					if err := os.Chtimes(path, mtime, mtime); err != nil {
						t.Fatal(err)
					}
				}
			}
			write(tc.first, tc.firstTime)
			if _, err := r.GetService(ctx, "orders"); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(logs.String(), "file="+path+" "); tc.firstTime.IsZero() && n != 0 {
				t.Errorf("a file being written was logged %d times:\n%s", n, logs.String())
			}
			if tc.final != "" {
				write(tc.final, tc.finalTime)
			}
			var list []string
			for range 3 {
				l, err := r.GetService(ctx, "orders")
				if err != nil {
					t.Fatal(err)
				}
				list = ids(l)
			}
			if listed := slices.Equal(list, []string{"mid"}); listed != tc.wantListed {
				t.Errorf("listed = %v (%v), want %v", listed, list, tc.wantListed)
			}
			out := logs.String()
			if n := strings.Count(out, "file="+path+" "); n != tc.wantLogged {
				t.Errorf("%s logged %d times, want %d; log:\n%s", path, n, tc.wantLogged, out)
			}
			if tc.wantText != "" && !strings.Contains(out, tc.wantText) {
				t.Errorf("the log does not name the problem %q:\n%s", tc.wantText, out)
			}
		})
	}
}
