package springconfig_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	"github.com/tianshu-go/tianshu/config/springconfig"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func testLogger(t testing.TB) *slog.Logger {
	b := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fast are the options tests use: quick polls and retries, the log in a failed test's output.
func fast(t testing.TB, more ...springconfig.Option) []springconfig.Option {
	return append([]springconfig.Option{
		springconfig.WithPoll(100 * time.Millisecond),
		springconfig.WithRetry(20*time.Millisecond, 100*time.Millisecond),
		springconfig.WithTimeout(5 * time.Second),
		springconfig.WithLogger(testLogger(t)),
	}, more...)
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dirStore writes files into one directory the native profile serves. Each file is written
// aside and renamed into place, so the server never reads half of one.
type dirStore struct{ dir string }

func (d dirStore) Put(_ context.Context, name string, data []byte) error {
	tmp, err := os.CreateTemp(d.dir, ".put-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(d.dir, name))
}

func (d dirStore) Delete(_ context.Context, name string) error {
	err := os.Remove(filepath.Join(d.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// labelDir returns a fresh label and its directory under the Config Server's native
// directory: the native profile also searches <location>/<label>/, so a label isolates a
// test's files from every other test's.
func labelDir(t *testing.T, srv *testenv.SpringServers) (string, dirStore) {
	t.Helper()
	label := registrytest.ServiceName(t)
	dir := filepath.Join(srv.ConfigDir, label)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return label, dirStore{dir}
}

func TestConformance(t *testing.T) {
	srv := springServers.Get(t)
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			label, store := labelDir(t, srv)
			src, err := springconfig.New([]string{srv.ConfigURL}, "suite", fast(t, springconfig.WithLabel(label))...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return src, store
		},
		// The server lists suite.yml (the application's) above application.yml (every
		// application's); the source yields them the other way round.
		Names:   []string{"application.yml", "suite.yml"},
		Timeout: 20 * time.Second,
	})
}

// Spring's precedence, as the real server reports it: any profile's file over every file
// without a profile (application-dev.yml over orders.yml), then the application's over
// application.*, and a later profile over an earlier one.
// Each key below is set in the files listed, and the value expected is the one a Spring
// application with these profiles sees.
func TestPrecedenceIsSprings(t *testing.T) {
	srv := springServers.Get(t)
	label, store := labelDir(t, srv)
	files := map[string]string{
		"application.yml":     "k1: application\nk2: application\nk3: application\nk4: application\nk5: application\nshared:\n  a: application\n  b: application\n",
		"application-dev.yml": "k2: application-dev\nk3: application-dev\nk4: application-dev\n",
		"orders.yml":          "k3: orders\nk4: orders\nshared:\n  b: orders\nlist: [x, y, z]\n",
		"orders-dev.yml":      "k4: orders-dev\nlist: [only]\n",
		"orders-eu.yml":       "k5: orders-eu\n",
		"orders-prod.yml":     "k1: not asked for\n",
	}
	for name, data := range files {
		if err := store.Put(ctxFor(t), name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	src, err := springconfig.New([]string{srv.ConfigURL}, "orders",
		fast(t, springconfig.WithLabel(label), springconfig.WithProfiles("dev", "eu"))...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(ctxFor(t), []config.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	want := map[string]string{
		"k1":       "application",
		"k2":       "application-dev",
		"k3":       "application-dev",
		"k4":       "orders-dev",
		"k5":       "orders-eu",
		"shared.a": "application",
		"shared.b": "orders",
	}
	for key, w := range want {
		var got string
		if err := cfg.ScanKey(key, &got); err != nil || got != w {
			t.Errorf("%s = %q (%v), want %q", key, got, err, w)
		}
	}
	var list []string
	if err := cfg.ScanKey("list", &list); err != nil || fmt.Sprint(list) != "[only]" {
		t.Errorf("list = %q (%v), want [only]: a list is replaced whole, as Spring binds it", list, err)
	}
}

// The native profile answers "version": null; the watcher sees a change of content all the
// same (the conformance suite covers updates; this pins down why it must hash).
func TestNativeProfileHasNoVersion(t *testing.T) {
	srv := springServers.Get(t)
	label, store := labelDir(t, srv)
	if err := store.Put(ctxFor(t), "v.yml", []byte("a: 1\n")); err != nil {
		t.Fatal(err)
	}
	body := get(t, srv.ConfigURL+"/v/default/"+label)
	if want := `"version":null`; !contains(body, want) {
		t.Fatalf("the native profile's answer has a version now; the hash may be redundant:\n%s", body)
	}
}

func TestLoadOfADownServerIsUnavailable(t *testing.T) {
	src, err := springconfig.New([]string{"http://" + closedAddr(t)}, "orders", fast(t)...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Load(ctxFor(t))
	if !errors.Is(err, errUnavailable) {
		t.Fatalf("Load from a closed port = %v, want registry.ErrUnavailable", err)
	}
}
