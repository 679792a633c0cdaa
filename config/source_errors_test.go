package config_test

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/env"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/config/flags"
)

type server struct {
	Port  int `config:"port"`
	Host  string
	Peers []int
}

type checkedServer struct {
	Port int
	Host string
}

func (s *checkedServer) Validate() error {
	if s.Port == 1 {
		return errors.New("port 1 is reserved")
	}
	return nil
}

type defaulted struct {
	Port int `default:"eighty"`
}

func environ(vars ...string) config.Source {
	return env.New("APP", env.WithEnviron(func() []string { return vars }))
}

func parsedFlags(t *testing.T, args ...string) config.Source {
	t.Helper()
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.String("s.port", "", "")
	fs.String("s..port", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return flags.New(fs)
}

func yamlSource(name, body string) config.Source { return config.Bytes(name, "", []byte(body)) }

// bindErr binds T at "s" over srcs and returns the error (New's or Bind's).
func bindErr[T any](t *testing.T, srcs ...config.Source) error {
	t.Helper()
	c, err := config.New(context.Background(), srcs, config.WithLookupEnv(noEnv), config.WithLogger(quiet()))
	if err != nil {
		return err
	}
	t.Cleanup(func() { _ = c.Close() })
	_, err = config.Bind[T](c, "s")
	return err
}

func TestValueErrorsNameTheSourceAndTheKey(t *testing.T) {
	tests := []struct {
		name string
		err  func(t *testing.T) error
		is   error
		want string
	}{
		{"an environment variable", func(t *testing.T) error {
			return bindErr[server](t, environ("APP_S__PORT=8x"))
		}, config.ErrType, `config: env APP_S__PORT: key "s.port": expected int, got string "8x"`},
		{"a flag", func(t *testing.T) error {
			return bindErr[server](t, parsedFlags(t, "-s.port=8x"))
		}, config.ErrType, `config: flag -s.port: key "s.port": expected int`},
		{"a file", func(t *testing.T) error {
			return bindErr[server](t, yamlSource("/etc/app/app.yaml", "s: {port: 8x}\n"))
		}, config.ErrType, `config: /etc/app/app.yaml: key "s.port": expected int`},
		{"a remote key", func(t *testing.T) error {
			return bindErr[server](t, newMem(yamlDoc("/tianshu/config/app.yaml", "s: {port: 8x}\n")))
		}, config.ErrType, `config: /tianshu/config/app.yaml: key "s.port": expected int`},
		{"the strongest of several layers", func(t *testing.T) error {
			return bindErr[server](t, yamlSource("app.yaml", "s: {port: 1, host: h}\n"), environ("APP_S__PORT=8x", "APP_S__HOST=e"))
		}, config.ErrType, `config: env APP_S__PORT: key "s.port"`},
		{"a file under a stronger layer that sets other keys", func(t *testing.T) error {
			return bindErr[server](t, yamlSource("app.yaml", "s: {port: 8x}\n"), environ("APP_S__HOST=e"))
		}, config.ErrType, `config: app.yaml: key "s.port"`},
		{"an element of a comma list", func(t *testing.T) error {
			return bindErr[server](t, environ("APP_S__PEERS=1,x"))
		}, config.ErrType, `config: env APP_S__PEERS: key "s.peers.1"`},
		{"a default tag", func(t *testing.T) error {
			return bindErr[defaulted](t, yamlSource("app.yaml", "s: {}\n"))
		}, config.ErrType, `config: default tag of config_test.defaulted.Port: key "s.Port"`},
		{"a failed validation, by every source under the key", func(t *testing.T) error {
			return bindErr[checkedServer](t, yamlSource("app.yaml", "s: {host: h}\n"), environ("APP_S__PORT=1"))
		}, config.ErrInvalid, `config: app.yaml, env APP_S__PORT: key "s": validation failed: port 1 is reserved`},
		{"a placeholder without a value", func(t *testing.T) error {
			return bindErr[server](t, yamlSource("app.yaml", "s: {host: h}\n"), environ("APP_S__HOST=${NOPE}"))
		}, config.ErrMissingKey, `config: env APP_S__HOST: key "s.host": placeholder ${NOPE} is not set`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant %v containing %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestARejectedReloadNamesTheSource(t *testing.T) {
	r := newRig(t, "name: a\nmax: 1\n")
	r.src.set(yamlDoc("remote/app.yaml", "name: a\nmax: lots\n"))
	select {
	case err := <-r.errs:
		if want := `config: remote/app.yaml: key "max": expected int`; !strings.Contains(err.Error(), want) {
			t.Fatalf("rejection = %v, want it to contain %q", err, want)
		}
	case <-r.changes:
		t.Fatal("a bad change was applied")
	case <-time.After(10 * time.Second):
		t.Fatal("the change was not rejected within 10s")
	}
}

// nameless is a Source with no String method.
type nameless struct{}

func (nameless) Load(context.Context) ([]config.Document, error) {
	return nil, errors.New("backend unreachable")
}
func (nameless) Watch(context.Context) (config.Watcher, error) { return nil, config.ErrNotWatchable }

func TestLoadErrorsNameTheSource(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "app.yaml")
	_, err := config.New(context.Background(), []config.Source{file.New(missing)})
	if want := "config: loading file " + missing + ": "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want it to start %q", err, want)
	}
	if !strings.Contains(err.Error(), "file.Optional()") {
		t.Errorf("error = %v, want it to say what to do (file.Optional())", err)
	}
	_, err = config.New(context.Background(), []config.Source{environ(), nameless{}})
	if want := "config: loading source 1 (config_test.nameless): backend unreachable"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestANilSourceIsAnErrorNotAPanic(t *testing.T) {
	var typedNil *file.Source
	for name, srcs := range map[string][]config.Source{
		"nil":       {nil},
		"typed nil": {environ(), typedNil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.New(context.Background(), srcs)
			if err == nil || !strings.Contains(err.Error(), "is nil") {
				t.Fatalf("error = %v, want one saying the source is nil", err)
			}
		})
	}
}

func TestAKeyWithAnEmptySegmentIsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  func(t *testing.T) config.Source
		want string
	}{
		{"from the environment", func(*testing.T) config.Source { return environ("APP_S____PORT=1") }, `config: env APP_S____PORT: key "s..port" has an empty segment`},
		{"from flags", func(t *testing.T) config.Source { return parsedFlags(t, "-s..port=1") }, `config: flag -s..port: key "s..port" has an empty segment`},
		{"from a properties file", func(*testing.T) config.Source { return yamlSource("a.properties", "s.port=1\ns..port=2\n") }, `config: a.properties: key "s..port" has an empty segment`},
		{"trailing", func(*testing.T) config.Source { return environ("APP_S__=1") }, `key "s." has an empty segment`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.New(context.Background(), []config.Source{tc.src(t)})
			if !errors.Is(err, config.ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrSyntax containing %q", err, tc.want)
			}
		})
	}
	t.Run("asked for", func(t *testing.T) {
		c := mustNew(t, []config.Source{yamlSource("a.yaml", "s: {port: 1}\n")})
		if v, ok := c.Get("s..port"); ok {
			t.Errorf("Get(s..port) = %v, want nothing", v)
		}
		if _, err := config.Bind[int](c, "s..port"); err == nil || !strings.Contains(err.Error(), "empty segment") {
			t.Errorf("Bind(s..port) error = %v, want an empty segment named", err)
		}
		var n int
		if err := c.ScanKey(".s.port", &n); err == nil {
			t.Errorf("ScanKey(.s.port) succeeded")
		}
	})
}

func TestAPlaceholderCycleIsNamed(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"a: ${b}\nb: ${a}\n", `config: p.yaml: key "a": placeholders form a cycle: a -> b -> a;`},
		{"a: ${a}\n", `config: p.yaml: key "a": placeholders form a cycle: a -> a;`},
		{"a: x-${b}\nb: ${c}\nc: y-${A}\n", `config: p.yaml: key "a": placeholders form a cycle: a -> b -> c -> a;`},
		{"a: ${NOPE:${a}}\n", `placeholders form a cycle: a -> a;`},
	} {
		t.Run(tc.body, func(t *testing.T) {
			_, err := config.New(context.Background(), []config.Source{yamlSource("p.yaml", tc.body)}, config.WithLookupEnv(noEnv))
			if !errors.Is(err, config.ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want ErrSyntax containing %q", err, tc.want)
			}
			if strings.HasSuffix(err.Error(), "syntax error") {
				t.Errorf("error = %v, which ends in a bare \"syntax error\"", err)
			}
		})
	}
}
