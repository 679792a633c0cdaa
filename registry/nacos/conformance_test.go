package nacos_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
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

// The names the source had here stay for one release, as the same type.
func TestDeprecatedNewSourceStillWorks(t *testing.T) {
	srv := testenv.StartNacos(t)
	var src *nacosconfig.Source
	src, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, []string{"app.yaml"}, //nolint:staticcheck // the deprecated name under test
		append(base(t, sdkDir(t)), nacos.WithNamespace("deprecated"), nacos.WithGroup("G"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Put(ctxFor(t), "app.yaml", []byte("v: 1\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := src.String(), "nacos deprecated/G app.yaml"; got != want {
		t.Errorf("String() = %q, want %q: the registry options did not carry over", got, want)
	}
	eventually(t, 20*time.Second, "the published dataId", func() bool {
		docs, err := src.Load(ctxFor(t))
		return err == nil && len(docs) == 1 && string(docs[0].Data) == "v: 1\n"
	})
	if _, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, nil); !errors.Is(err, nacos.ErrInvalidConfig) { //nolint:staticcheck // the deprecated name under test
		t.Errorf("NewSource without dataIds = %v, want ErrInvalidConfig", err)
	}
}
