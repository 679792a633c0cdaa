package interop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/springconfig"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/rest"
)

// The Spring Cloud scenarios: a Spring Boot 4 peer (interop/spring-java) and Tianshu meet
// in Spring Cloud Netflix's Eureka server and read Spring Cloud Config Server, both run as
// one JVM (internal/testenv/springserver). Each scenario names its own services, since the
// peer and the servers are shared by the package.

// springLogger keeps a scenario's Tianshu logs for its failure output.
func springLogger(t *testing.T) *slog.Logger {
	b := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Tianshu log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eurekaRegistry is a Tianshu Eureka registry with the test intervals: a renewal a second,
// a 3 s lease and a fetch every 500 ms.
func eurekaRegistry(t *testing.T, srv *testenv.SpringServers) *eureka.Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := eureka.New(ctx, []string{srv.EurekaURL},
		eureka.WithRenewalInterval(time.Second), eureka.WithLeaseDuration(3*time.Second),
		eureka.WithFetchInterval(500*time.Millisecond), eureka.WithLogger(springLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

// greeting is the JSON of GET /greet on both sides.
type greeting struct {
	Message  string `json:"message"`
	ServedBy string `json:"servedBy"`
}

// tianshuGreeter serves GET /greet as the Spring peer does, announced in Eureka as service
// with servedBy id, and waits until Eureka lists it. drainDelay is its wait between leaving
// Eureka and draining.
func tianshuGreeter(t *testing.T, reg *eureka.Registry, service, id string, drainDelay time.Duration) *rest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /greet", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(greeting{Message: "hello, " + r.URL.Query().Get("name"), ServedBy: id})
	})
	srv, err := rest.NewServer("127.0.0.1:0", mux, rest.WithRegistrar(reg), rest.WithService(service),
		rest.WithInstance(registry.Instance{ID: id}), rest.WithDeregisterDelay(drainDelay),
		rest.WithLogger(springLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	waitInEureka(t, reg, service, id)
	return srv
}

// waitInEureka waits until Eureka lists instance id of service as UP.
func waitInEureka(t *testing.T, reg *eureka.Registry, service, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ins, err := reg.GetService(ctx, service)
		cancel()
		for _, in := range ins {
			if in.ID == id {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Eureka does not list %s of %s within 30 s (last: %d instances, %v)", id, service, len(ins), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// 1. Spring's @LoadBalanced RestClient calls a Tianshu HTTP service it finds in Eureka.
func TestSpringCallsTianshuThroughEureka(t *testing.T) {
	peer, srv := springPeer.Get(t)
	reg := eurekaRegistry(t, srv)
	const service = "interop-tianshu-greeter"
	tianshuGreeter(t, reg, service, "tianshu-1", time.Second)

	r := collectCall(t, peerCall(t, peer, service, 20, 0), 90*time.Second)
	if len(r.failed) != 0 || r.served["tianshu-1"] != 20 || r.done != "DONE ok=20 failed=0" {
		t.Fatalf("the Spring peer's 20 calls to %s: %+v, want 20 answers from tianshu-1", service, r)
	}
}

// The peer's call mode, a JVM of its own that calls and exits as the Dubbo peer's consumer
// does, prints one line per call and a DONE summary.
func TestSpringCallModeCallsTianshu(t *testing.T) {
	_, srv := springPeer.Get(t)
	reg := eurekaRegistry(t, srv)
	const service = "interop-tianshu-for-call-mode"
	tianshuGreeter(t, reg, service, "tianshu-cli", time.Second)
	lines := runSpringCall(t, srv, service, 5, 50)
	got := answers(lines)
	if len(got) != 5 || got[0].message != "hello, spring-0" || got[0].servedBy != "tianshu-cli" ||
		!slices.Contains(lines, "DONE ok=5 failed=0") {
		t.Fatalf("call mode printed:\n%s", strings.Join(lines, "\n"))
	}
}

// 2. Tianshu's discovery-aware HTTP client calls the Spring service it finds in Eureka.
func TestTianshuCallsSpringThroughEureka(t *testing.T) {
	_, srv := springPeer.Get(t)
	reg := eurekaRegistry(t, srv)
	c, err := rest.NewClient(reg, rest.WithServices(springPeerApp), rest.WithClientLogger(springLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hc := &http.Client{Transport: c.RoundTripper(), Timeout: 10 * time.Second}

	// The peer registered itself when it started; Eureka may not list it yet.
	var g greeting
	deadline := time.Now().Add(60 * time.Second)
	for {
		g, err = getGreeting(hc, "http://"+springPeerApp+"/greet?name=go")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET http://%s/greet through Eureka: %v", springPeerApp, err)
	}
	if g != (greeting{"hello, go", springPeerID}) {
		t.Fatalf("the Spring service answered %+v", g)
	}
	for i := range 10 {
		if g, err := getGreeting(hc, fmt.Sprintf("http://%s/greet?name=go-%d", springPeerApp, i)); err != nil || g.ServedBy != springPeerID {
			t.Fatalf("call %d: %+v, %v", i, g, err)
		}
	}
}

func getGreeting(hc *http.Client, u string) (greeting, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return greeting{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return greeting{}, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var g greeting
	err = json.Unmarshal(b, &g)
	return g, err
}

// 3. One Spring and one Tianshu instance of the same service behind a Spring consumer: both
// get traffic, each within ±20% of half over 1,000 calls. The peer is both the Spring
// instance of springPeerApp and the consumer; Spring's round robin should split evenly.
func TestSpringConsumerSpreadsOverSpringAndTianshuInstances(t *testing.T) {
	peer, srv := springPeer.Get(t)
	reg := eurekaRegistry(t, srv)
	tianshuGreeter(t, reg, springPeerApp, "tianshu-beside-spring", springDrainDelay)

	// Wait until the peer's LoadBalancer has both instances: a call answered by Tianshu.
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := collectCall(t, peerCall(t, peer, springPeerApp, 4, 0), 60*time.Second)
		if r.served["tianshu-beside-spring"] > 0 && r.served[springPeerID] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Spring consumer never reached both instances: %+v", r)
		}
		time.Sleep(500 * time.Millisecond)
	}
	const calls = 1000
	r := collectCall(t, peerCall(t, peer, springPeerApp, calls, 0), 3*time.Minute)
	if len(r.failed) != 0 {
		t.Fatalf("%d of %d calls failed: %q", len(r.failed), calls, r.failed[:min(5, len(r.failed))])
	}
	for _, id := range []string{springPeerID, "tianshu-beside-spring"} {
		if n := r.served[id]; n < calls/2*8/10 || n > calls/2*12/10 {
			t.Errorf("%s served %d of %d calls, want %d±20%%", id, n, calls, calls/2)
		}
	}
	t.Logf("served: %v", r.served)
}

// 4. The Spring app and a Tianshu service read one key from the Config Server, and a change
// reaches both: Spring through POST /actuator/refresh, Tianshu by polling.
func TestSpringAndTianshuReadOneConfigServerKey(t *testing.T) {
	peer, srv := springPeer.Get(t)
	write := func(name, content string) {
		t.Helper()
		tmp := filepath.Join(srv.ConfigDir, ".tmp-"+name)
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(srv.ConfigDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// application.yml applies to every application, springPeerApp's own file wins over it:
	// both sides must agree on that too.
	write("application.yml", "interop:\n  greeting: from application.yml\n  only-shared: shared\n")
	write(springPeerApp+".properties", "interop.greeting=one\n")
	t.Cleanup(func() {
		_ = os.Remove(filepath.Join(srv.ConfigDir, "application.yml"))
		_ = os.Remove(filepath.Join(srv.ConfigDir, springPeerApp+".properties"))
	})

	src, err := springconfig.New([]string{srv.ConfigURL}, springPeerApp,
		springconfig.WithPoll(200*time.Millisecond), springconfig.WithLogger(springLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := config.New(ctx, []config.Source{src})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	type interopConfig struct {
		Greeting   string
		OnlyShared string `config:"only-shared"`
	}
	v, err := config.Bind[interopConfig](cfg, "interop")
	if err != nil {
		t.Fatal(err)
	}
	if got := *v.Load(); got != (interopConfig{"one", "shared"}) {
		t.Fatalf("Tianshu reads %+v, want greeting one (the application's file) and only-shared", got)
	}
	// The peer may have started before these files existed: a refresh makes it read them.
	refreshSpring(t, peer)
	springWants(t, peer, "interop.greeting", "one")
	springWants(t, peer, "interop.only-shared", "shared")

	changed := make(chan string, 8)
	v.OnChange(func(_, n *interopConfig) { changed <- n.Greeting })
	write(springPeerApp+".properties", "interop.greeting=two\n")
	select {
	case got := <-changed:
		if got != "two" {
			t.Fatalf("Tianshu's change: greeting %q, want two", got)
		}
	case <-time.After(30 * time.Second): // 150 polls
		t.Fatal("Tianshu did not see the change within 30 s")
	}
	if keys := refreshSpring(t, peer); !strings.Contains(keys, "interop.greeting") {
		t.Errorf("POST /actuator/refresh answered %s, want interop.greeting among the changed keys", keys)
	}
	springWants(t, peer, "interop.greeting", "two")
}

// refreshSpring posts /actuator/refresh and returns its answer, the changed keys.
func refreshSpring(t *testing.T, peer *springPeerProcess) string {
	t.Helper()
	resp, err := http.Post(peer.BaseURL+"/actuator/refresh", "application/json", nil)
	if err != nil {
		t.Fatalf("POST /actuator/refresh: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /actuator/refresh: %s: %s", resp.Status, b)
	}
	return string(b)
}

// springWants checks the value the peer's Environment holds for key.
func springWants(t *testing.T, peer *springPeerProcess, key, want string) {
	t.Helper()
	resp, err := http.Get(peer.BaseURL + "/config/" + key)
	if err != nil {
		t.Fatalf("GET /config/%s: %v", key, err)
	}
	defer resp.Body.Close()
	var got struct{ Key, Value string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /config/%s: %s, %v", key, resp.Status, err)
	}
	if got.Value != want {
		t.Fatalf("Spring reads %s = %q, want %q", key, got.Value, want)
	}
}

// 5. A Tianshu instance that shuts down leaves Eureka before it stops serving: the Spring
// consumer, calling all along, sees no failed call. rest.Server.Shutdown is what
// tianshu.App runs on SIGTERM: deregister, wait the deregister delay, drain. The delay must
// cover the Eureka server's response cache (none under the test settings), the Spring
// client's registry fetch and its LoadBalancer cache: springDrainDelay here. Under Spring's
// and Eureka's defaults those are 30 s (read-only response cache), 30 s (fetch) and 35 s
// (cache): about a minute and a half at worst, plus what the test measures beyond the
// intervals (see springDrainDelay).
func TestTianshuLeavesEurekaBeforeItStopsServing(t *testing.T) {
	peer, srv := springPeer.Get(t)
	reg := eurekaRegistry(t, srv)
	const service = "interop-tianshu-leaving"
	stays := tianshuGreeter(t, reg, service, "tianshu-stays", springDrainDelay)
	_ = stays
	leaves := tianshuGreeter(t, reg, service, "tianshu-leaves", springDrainDelay)

	// Calls every 20 ms for a while: long enough to reach both, see one leave and go on.
	lines := peerCall(t, peer, service, 600, 20)
	// Let the consumer reach the leaving instance first.
	seen := map[string]int{}
	deadline := time.After(90 * time.Second)
	for seen["tianshu-leaves"] < 5 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the call loop ended early: %v", seen)
			}
			if rest, ok := strings.CutPrefix(l, "ANSWER "); ok {
				_, by, _ := strings.Cut(rest, "|")
				seen[by]++
			}
			if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "DONE") {
				t.Fatalf("before the shutdown: %s (%v)", l, seen)
			}
		case <-deadline:
			t.Fatalf("the Spring consumer never reached tianshu-leaves: %v", seen)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopped := make(chan error, 1)
	shutdownAt := time.Now()
	go func() { stopped <- leaves.Shutdown(ctx) }()
	unlisted := make(chan time.Duration, 1)
	go func() { unlisted <- untilUnlisted(srv, service, "tianshu-leaves", shutdownAt) }()

	r := collectCall(t, lines, 3*time.Minute)
	if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v", err)
	}
	if len(r.failed) != 0 {
		t.Fatalf("%d calls failed while tianshu-leaves shut down: %q", len(r.failed), r.failed)
	}
	if r.served["tianshu-stays"] == 0 {
		t.Fatalf("no call reached tianshu-stays: %+v", r)
	}
	t.Logf("after the shutdown began: %v (before: %v); Eureka's REST API last listed tianshu-leaves %v after it began, "+
		"the last call reached it after %v; the drain delay is %v",
		r.served, seen, <-unlisted, r.last["tianshu-leaves"].Sub(shutdownAt).Round(time.Millisecond), springDrainDelay)
}

// untilUnlisted polls the Eureka server itself, as a Spring client's fetch reads it, for
// springDrainDelay and returns how long after since it last listed instance id of service.
func untilUnlisted(srv *testenv.SpringServers, service, id string, since time.Time) time.Duration {
	var last time.Duration
	for time.Since(since) < springDrainDelay {
		req, _ := http.NewRequest(http.MethodGet, srv.EurekaURL+"/apps/"+strings.ToUpper(service), nil)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b), `"`+id+`"`) {
				last = time.Since(since).Round(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return last
}
