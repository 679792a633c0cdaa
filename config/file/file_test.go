package file_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	"github.com/tianshu-go/tianshu/config/file"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dirStore writes documents the way careful tools do: a temporary file
// renamed into place.
type dirStore struct{ dir string }

func (s dirStore) Put(_ context.Context, name string, data []byte) error {
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(s.dir, name))
}

func (s dirStore) Delete(_ context.Context, name string) error {
	return os.Remove(filepath.Join(s.dir, name))
}

func TestDirectorySourceConforms(t *testing.T) {
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := t.TempDir()
			return file.New(dir), dirStore{dir}
		},
		Names: []string{"a.yaml", "b.yaml", "c.yaml"},
	})
}

func TestOptionalFileSourceConforms(t *testing.T) {
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := t.TempDir()
			return file.New(filepath.Join(dir, "app.yaml"), file.Optional()), dirStore{dir}
		},
		Names: []string{"app.yaml"},
	})
}

// k8sStore lays files out as the kubelet does for a ConfigMap volume:
// app.yaml -> ..data/app.yaml, ..data -> ..<timestamp>/, and each update
// writes a new timestamped directory and swaps ..data with a rename.
type k8sStore struct {
	dir  string
	docs map[string][]byte
	gen  int
}

func (s *k8sStore) publish() error {
	s.gen++
	ts := filepath.Join(s.dir, "..gen"+string(rune('a'+s.gen%26))+time.Now().Format("150405.000000000"))
	if err := os.Mkdir(ts, 0o755); err != nil {
		return err
	}
	for name, data := range s.docs {
		if err := os.WriteFile(filepath.Join(ts, name), data, 0o644); err != nil {
			return err
		}
	}
	tmp := filepath.Join(s.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "..data")); err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	// User-visible links, added or removed as keys come and go.
	for _, e := range entries {
		if e.Name()[0] == '.' {
			continue
		}
		if _, ok := s.docs[e.Name()]; !ok {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	for name := range s.docs {
		link := filepath.Join(s.dir, name)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *k8sStore) Put(_ context.Context, name string, data []byte) error {
	s.docs[name] = data
	return s.publish()
}

func (s *k8sStore) Delete(_ context.Context, name string) error {
	delete(s.docs, name)
	return s.publish()
}

func TestConfigMapVolumeConforms(t *testing.T) {
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			dir := t.TempDir()
			st := &k8sStore{dir: dir, docs: map[string][]byte{}}
			if err := st.publish(); err != nil {
				t.Fatal(err)
			}
			return file.New(dir), st
		},
		Names: []string{"a.yaml", "b.yaml"},
	})
}

func waitFor(t *testing.T, w config.Watcher, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		docs, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
		if len(docs) == 1 && string(docs[0].Data) == want {
			return
		}
	}
}

func TestWatcherFollowsWritesByEditors(t *testing.T) {
	tests := []struct {
		name  string
		write func(path string, data []byte) error
	}{
		{"an in-place write is seen", func(p string, d []byte) error { return os.WriteFile(p, d, 0o644) }},
		{"a write to a temp file renamed over the original is seen", func(p string, d []byte) error {
			tmp := p + ".swp"
			if err := os.WriteFile(tmp, d, 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, p)
		}},
		{"moving the original away and writing a new file is seen as one change", func(p string, d []byte) error {
			if err := os.Rename(p, p+"~"); err != nil {
				return err
			}
			if err := os.WriteFile(p, d, 0o644); err != nil {
				return err
			}
			return os.Remove(p + "~")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "app.yaml")
			if err := os.WriteFile(path, []byte("v: 1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			w, err := file.New(path).Watch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Stop() })
			waitFor(t, w, "v: 1\n")
			for _, v := range []string{"v: 2\n", "v: 3\n"} {
				if err := tc.write(path, []byte(v)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, w, v)
			}
		})
	}
}

func TestWatcherFollowsASymlinkedFileToItsTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real", "app.yaml")
	if err := os.Mkdir(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte("v: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "app.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	w, err := file.New(link).Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	waitFor(t, w, "v: 1\n")
	if err := os.WriteFile(target, []byte("v: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, "v: 2\n")
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		src     *file.Source
		wantErr error
		wantN   int
	}{
		{"a missing file is an error naming it", file.New(filepath.Join(dir, "nope.yaml")), fs.ErrNotExist, 0},
		{"a missing optional file is an empty snapshot", file.New(filepath.Join(dir, "nope.yaml"), file.Optional()), nil, 0},
		{"a directory skips hidden and unknown files", file.New(dir), nil, 1},
	}
	for _, n := range []string{"a.yaml", ".hidden.yaml", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("a: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := tc.src.Load(context.Background())
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("Load error = %v, want %v", err, tc.wantErr)
			}
			if len(docs) != tc.wantN {
				t.Fatalf("Load = %d documents, want %d", len(docs), tc.wantN)
			}
		})
	}
}

func TestPollingSeesChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.json")
	if err := os.WriteFile(path, []byte(`{"v":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := file.New(path, file.WithPollInterval(50*time.Millisecond)).Watch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	waitFor(t, w, `{"v":1}`)
	if err := os.WriteFile(path, []byte(`{"v":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, `{"v":2}`)
}
