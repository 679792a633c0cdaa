package env_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/env"
)

func TestKeyMapping(t *testing.T) {
	tests := []struct {
		prefix, name, want string
		ok                 bool
	}{
		{"APP", "APP_DB__HOST", "db.host", true},
		{"APP", "APP_DB__MAX_CONNS", "db.max_conns", true},
		{"APP", "app_port", "port", true},
		{"APP", "APPLE_X", "", false},
		{"APP", "APP_", "", false},
		{"", "HOME", "home", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s with prefix %q maps to %q", tc.name, tc.prefix, tc.want), func(t *testing.T) {
			got, ok := env.New(tc.prefix).Key(tc.name)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Key(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLoadNestsVariablesAndRejectsConflicts(t *testing.T) {
	src := env.New("APP", env.WithEnviron(func() []string {
		return []string{"APP_DB__HOST=h", "APP_DB__PORT=1", "PATH=/bin", "APP_NAME=a=b"}
	}))
	cfg, err := config.New(context.Background(), []config.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"db.host": "h", "db.port": "1", "name": "a=b"} {
		if v, _ := cfg.Get(key); v != want {
			t.Errorf("Get(%q) = %v, want %q", key, v, want)
		}
	}

	bad := env.New("APP", env.WithEnviron(func() []string { return []string{"APP_DB=x", "APP_DB__HOST=h"} }))
	_, err = config.New(context.Background(), []config.Source{bad})
	if !errors.Is(err, config.ErrSyntax) || !strings.Contains(err.Error(), `key "db" is both a value and a section`) {
		t.Fatalf("conflicting variables: err = %v", err)
	}
}

func TestWatchIsNotSupported(t *testing.T) {
	if _, err := env.New("APP").Watch(context.Background()); !errors.Is(err, config.ErrNotWatchable) {
		t.Fatalf("Watch = %v, want ErrNotWatchable", err)
	}
}

// Any variable's value must reach the config unchanged.
func FuzzEnvironmentValue(f *testing.F) {
	f.Add("DB__HOST", "x")
	f.Add("A__B__C", " \\t=:#!${X}")
	f.Fuzz(func(t *testing.T, name, value string) {
		if !utf8.ValidString(value) || strings.ContainsAny(name, "=\x00") || strings.Contains(value, "\x00") {
			t.Skip()
		}
		src := env.New("APP", env.WithEnviron(func() []string { return []string{"APP_" + name + "=" + value} }))
		key, ok := src.Key("APP_" + name)
		if !ok {
			t.Skip()
		}
		if strings.Contains("."+key+".", "..") || !utf8.ValidString(key) {
			t.Skip()
		}
		cfg, err := config.New(context.Background(), []config.Source{src},
			config.WithoutWatch(), config.WithLookupEnv(func(string) (string, bool) { return "", false }))
		if err != nil {
			if strings.Contains(value, "${") {
				return // an unresolvable placeholder, reported as such
			}
			t.Fatalf("New: %v", err)
		}
		got, _ := cfg.Get(key)
		if !strings.Contains(value, "${") && got != value {
			t.Fatalf("APP_%s=%q came back as %q", name, value, got)
		}
	})
}
