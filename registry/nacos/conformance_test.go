package nacos_test

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestRegistryConformance(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	restart := func(t testing.TB) { srv.Restart(t, false) }
	down := func(t testing.TB) (func(testing.TB) registry.Registry, func(testing.TB)) {
		down := testenv.NewNacos(t)
		// Provider and consumer are two processes: two SDK clients.
		return func(t testing.TB) registry.Registry { return open(t, down, sdkDir(t)) }, down.Start
	}
	if testenv.RaceDetector {
		t.Log("the restart and server-down subtests are left out under -race (" + testenv.NoRaceCommand + " runs them): " + sdkRaceMessage)
		restart, down = nil, nil
	}
	registrytest.Run(t, registrytest.Backend{
		// Handles share one SDK client, as Registries of one process do.
		Open:       func(t testing.TB) registry.Registry { return open(t, srv, dir) },
		Restart:    restart,
		Timeout:    30 * time.Second,
		Down:       down,
		BackoffCap: nacosBackoffCap,
		Refusals: func(t testing.TB) []registrytest.Refusal {
			auth := testenv.StartNacos(t, testenv.WithNacosAuth("tianshu", "s3cret"))
			q := url.Values{"cache_dir": {sdkDir(t)}}
			wrong := url.Values{"cache_dir": {sdkDir(t)}, "username": {"tianshu"}, "password": {"guess"}}
			return []registrytest.Refusal{
				{URL: srv.URL("public", url.Values{"timeout": {"soon"}}), Err: nacos.ErrInvalidConfig},
				{URL: srv.URL("a/b", q), Err: nacos.ErrInvalidConfig},
				{URL: auth.URL("public", wrong), Err: nacos.ErrUnauthorized},
			}
		},
	})
}

// nacosBackoffCap bounds how long a client made with base options takes to connect to a
// server that has come up: the SDK waits 100 ms more after each failed round of connection
// attempts, up to 5 s, and base's WithRetry (500 ms at most) paces the re-registration on
// top.
const nacosBackoffCap = 5*time.Second + 500*time.Millisecond

func TestConfigSourceConformance(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	// The suite checks that a watcher leaves no goroutine behind. The SDK starts its
	// connection's goroutines on a client's first request and keeps them for the client's
	// life; this Source holds the shared client, warmed up, for the whole suite.
	anchor, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, []string{"anchor.yaml"},
		append(base(t, dir), nacos.WithNamespace("conformance"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anchor.Close() })
	if _, err := anchor.Load(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			src, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, []string{"a.yaml", "b.yaml"},
				append(base(t, dir), nacos.WithNamespace("conformance"), nacos.WithGroup(registrytest.ServiceName(t)),
					nacos.WithConfigPoll(time.Second))...)
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			t.Cleanup(func() { _ = src.Close() })
			return src, src
		},
		Names:   []string{"a.yaml", "b.yaml"},
		Timeout: 20 * time.Second,
	})
}

// Config errors name a source by its String; without one they would say
// "source 0 (*nacos.Source)".
func TestConfigSourceNamesItself(t *testing.T) {
	srv := testenv.StartNacos(t)
	src, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, []string{"app.yaml", "db.yaml"},
		append(base(t, sdkDir(t)), nacos.WithNamespace("names"), nacos.WithGroup("G"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got, want := fmt.Sprint(src), "nacos names/G app.yaml,db.yaml"; got != want {
		t.Errorf("the source prints as %q, want %q", got, want)
	}
}
