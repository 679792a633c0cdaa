package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
)

func TestStrictKeysMakeAnUnknownKeyAnError(t *testing.T) {
	t.Run("at Bind", func(t *testing.T) {
		c := mustNew(t, []config.Source{environ("APP_DB__MAX_CON=5")}, config.StrictKeys())
		_, err := config.Bind[pool](c, "db")
		if want := `config: env APP_DB__MAX_CON: unknown key "db.max_con" (did you mean "db.max_conns"?)`; !errors.Is(err, config.ErrUnknownKey) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Bind error = %v, want ErrUnknownKey containing %q", err, want)
		}
		var uk *config.UnknownKeyError
		if !errors.As(err, &uk) || uk.Key != "db.max_con" || uk.Nearest != "db.max_conns" || uk.Source != "env APP_DB__MAX_CON" {
			t.Fatalf("UnknownKeyError = %+v", uk)
		}
	})
	t.Run("a whole section from the environment", func(t *testing.T) {
		c := mustNew(t, []config.Source{environ("APP_DB__SUB__DEPTH=1", "APP_DB__SUB__X=2")}, config.StrictKeys())
		_, err := config.Bind[pool](c, "db")
		if want := `config: env APP_DB__SUB__X: unknown key "db.sub.x"`; !strings.Contains(fmt.Sprint(err), want) {
			t.Fatalf("Bind error = %v, want %q", err, want)
		}
		c = mustNew(t, []config.Source{environ("APP_DB__SUBS__DEPTH=1", "APP_DB__SUBS__X=2")}, config.StrictKeys())
		_, err = config.Bind[pool](c, "db")
		if want := `config: env APP_DB__SUBS__DEPTH, env APP_DB__SUBS__X: unknown key "db.subs" (did you mean "db.Sub"?)`; !strings.Contains(fmt.Sprint(err), want) {
			t.Fatalf("Bind error = %v, want %q", err, want)
		}
	})
	t.Run("at ScanKey", func(t *testing.T) {
		c := mustNew(t, []config.Source{yamlSource("app.yaml", "db: {max_conns: 1, xyzzy: 2}\n")}, config.StrictKeys())
		var p pool
		err := c.ScanKey("db", &p)
		if want := `config: app.yaml: unknown key "db.xyzzy" (no field reads it; remove it)`; !errors.Is(err, config.ErrUnknownKey) || !strings.Contains(err.Error(), want) {
			t.Fatalf("ScanKey error = %v, want ErrUnknownKey containing %q", err, want)
		}
	})
	t.Run("at a reload", func(t *testing.T) {
		src := newMem(yamlDoc("app.yaml", "name: a\nmax: 1\n"))
		errs := make(chan error, 10)
		c := mustNew(t, []config.Source{src}, config.StrictKeys(), config.WithErrorHandler(func(err error) { errs <- err }))
		v, err := config.Bind[appConf](c, "")
		if err != nil {
			t.Fatal(err)
		}
		src.set(yamlDoc("app.yaml", "name: a\nmax: 2\nmx: 3\n"))
		select {
		case err = <-errs:
		case <-time.After(10 * time.Second):
			t.Fatal("the change was not rejected within 10s")
		}
		if !errors.Is(err, config.ErrUnknownKey) || !strings.Contains(err.Error(), `unknown key "mx" (did you mean "max"?)`) {
			t.Fatalf("rejection = %v, want the unknown key mx", err)
		}
		if v.Load().Max != 1 {
			t.Fatalf("Max = %d, want the last good 1", v.Load().Max)
		}
	})
}

// TestWholeMakesASectionUnderTheKeyUnknown: a section right under the bound key that no
// field names is another component's unless the binding says the document is Whole.
func TestWholeMakesASectionUnderTheKeyUnknown(t *testing.T) {
	doc := "db: {max_conns: 1, replicas: {count: 2}}\n"
	c := mustNew(t, []config.Source{yamlSource("app.yaml", doc)}, config.StrictKeys())
	if _, err := config.Bind[pool](c, "db"); err != nil {
		t.Fatalf("without Whole: %v, want the section left to another component", err)
	}
	c = mustNew(t, []config.Source{yamlSource("app.yaml", doc)}, config.StrictKeys())
	_, err := config.Bind[pool](c, "db", config.Whole())
	var uk *config.UnknownKeyError
	if !errors.As(err, &uk) || uk.Key != "db.replicas" {
		t.Fatalf("with Whole: %v, want an UnknownKeyError for db.replicas", err)
	}
}
