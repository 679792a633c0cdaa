package config_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/config"
)

type pool struct {
	MaxConns int `config:"max_conns"`
	Timeout  string
	Limits   map[string]int
	Sub      struct{ Depth int }
	Embedded
}

type Embedded struct {
	Zone string
}

// A misspelt key is not silently ignored: it is logged once, naming the key,
// where it came from and the key it probably meant.
func TestAnUnknownKeyIsLoggedOnceWithTheNearestKnownKey(t *testing.T) {
	rec := &recorder{}
	src := newStep(yamlDoc("app.yaml", "db:\n  max_con: 5\n  timeout: 1s\n  zone: z\n  limits: {anything: 1}\n  sub: {deph: 1}\n  replicas: 2\n"))
	c, err := config.New(context.Background(), []config.Source{src},
		config.WithLookupEnv(noEnv), config.WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	v, err := config.Bind[pool](c, "db")
	if err != nil {
		t.Fatalf("Bind = %v; an unknown key must not fail it by default", err)
	}
	if v.Load().Timeout != "1s" || v.Load().Zone != "z" {
		t.Fatalf("known keys not read: %+v", *v.Load())
	}
	// A reload with the same mistakes says nothing new.
	src.send(t, step{docs: []config.Document{yamlDoc("app.yaml", "db:\n  max_con: 6\n  timeout: 2s\n  sub: {deph: 1}\n  replicas: 2\n")}})
	src.send(t, step{docs: []config.Document{yamlDoc("app.yaml", "db:\n  max_con: 6\n  timeout: 2s\n  sub: {deph: 1}\n  replicas: 2\n")}})
	if v.Load().Timeout != "2s" {
		t.Fatalf("reload not applied: %+v", *v.Load())
	}
	got := rec.warnings()
	want := []string{
		`key=db.max_con source=app.yaml nearest=db.max_conns`,
		`key=db.replicas source=app.yaml nearest=`,
		`key=db.sub.deph source=app.yaml nearest=db.sub.Depth`,
	}
	if len(got) != len(want) {
		t.Fatalf("%d warnings, want %d (one per unknown key, limits' own keys and zone are known):\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
		}
	}
}

func TestAKeyBoundByAnotherValueIsNotUnknown(t *testing.T) {
	rec := &recorder{}
	c, err := config.New(context.Background(), []config.Source{yamlSource("app.yaml", "db: {max_conns: 1, replica: {host: r}}\n")},
		config.WithLookupEnv(noEnv), config.WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := config.Bind[struct{ Host string }](c, "db.replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Bind[pool](c, "db"); err != nil {
		t.Fatal(err)
	}
	if w := rec.warnings(); len(w) != 0 {
		t.Fatalf("warned about keys another Value reads:\n%s", strings.Join(w, "\n"))
	}
}

// Bound at the root, a type names a few keys beside sections other
// components read: those sections are not unknown keys, but one spelled like
// a known key is a typo.
func TestASectionBesideARootBoundTypeIsUnknownOnlyWhenItLooksLikeATypo(t *testing.T) {
	rec := &recorder{}
	c, err := config.New(context.Background(), []config.Source{yamlSource("orders.yaml",
		"listen: x\nregistr: file://\ntracng: {endpoint: e}\norders: {keep: 1}\nsub: {deph: 1}\n")},
		config.WithLookupEnv(noEnv), config.WithLogger(slog.New(rec)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type common struct {
		Listen   string
		Registry string
		Tracing  struct{ Endpoint string }
		Sub      struct{ Depth int }
	}
	if _, err := config.Bind[common](c, ""); err != nil {
		t.Fatal(err)
	}
	got := rec.warnings()
	want := []string{`key=registr `, `key=sub.deph `, `key=tracng `}
	if len(got) != len(want) {
		t.Fatalf("%d warnings, want %d (orders is another component's):\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got[i], w)
		}
	}
}
