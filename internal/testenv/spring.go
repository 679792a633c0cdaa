package testenv

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// SpringServersInstall builds the jar SpringServersJar returns.
const SpringServersInstall = "bash scripts/install/spring-servers.sh"

// springReadyTimeout bounds a start of the Spring servers: a Spring Boot JVM takes 15-30 s
// on a loaded 2-core machine, and several may start at once.
const springReadyTimeout = 3 * time.Minute

// ErrSpringServersMissing means java or the jar scripts/install/spring-servers.sh builds is
// not installed.
var ErrSpringServersMissing = errors.New("testenv: the Spring servers (java and <tools>/spring-servers/spring-servers.jar) are not installed; build them with: " + SpringServersInstall)

// SpringServers is the Spring Boot application of internal/testenv/springserver: a Spring
// Cloud Netflix Eureka server and a Spring Cloud Config Server (native profile) in one JVM,
// on one loopback port. Its settings (application.properties beside the Java class) make
// Eureka quick to observe: no read-only response cache, the live cache refreshed and
// expired leases evicted every second, no self-preservation. Registrations live in memory
// only: a restart forgets them, and clients must register again.
type SpringServers struct {
	// Addr is 127.0.0.1:Port.
	Addr string
	Port int
	// EurekaURL is the Eureka REST root, http://127.0.0.1:<Port>/eureka, as Spring's
	// eureka.client.service-url.defaultZone takes it (without the trailing slash).
	EurekaURL string
	// ConfigURL is the Config Server's root, http://127.0.0.1:<Port>/config: it serves
	// ConfigURL/{application}/{profile}[/{label}] and is what Spring's
	// spring.config.import=configserver:<ConfigURL> takes.
	ConfigURL string
	// ConfigDir is the directory the Config Server's native profile serves, read afresh
	// on each request: write application.properties, {application}.yml,
	// {application}-{profile}.properties and so on into it.
	ConfigDir string

	proc    *Process
	tempDir string // removed by SharedSpringServers.Stop
}

// SpringServersJar returns spring-servers/spring-servers.jar in ToolsDir if
// scripts/install/spring-servers.sh built it, else "".
func SpringServersJar() string {
	p := filepath.Join(ToolPath("spring-servers"), "spring-servers.jar")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func springServersInstalled() (string, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return "", ErrSpringServersMissing
	}
	jar := SpringServersJar()
	if jar == "" {
		return "", ErrSpringServersMissing
	}
	return jar, nil
}

// springMissing calls Missing with the command that builds the jar.
func springMissing(t testing.TB) {
	t.Helper()
	Missing(t, "the Spring servers jar ("+SpringServersInstall+" builds it alone)")
}

// StartSpringServers starts the Spring servers for one test, with an empty configuration
// directory, and stops them when the test ends. It calls Missing without java or the jar.
// The JVM takes 15-30 s to start: tests that need no fault of their own should share one
// (SharedSpringServers).
func StartSpringServers(t testing.TB) *SpringServers {
	t.Helper()
	s := NewSpringServers(t)
	s.Start(t)
	return s
}

// NewSpringServers prepares the Spring servers as StartSpringServers does, on a port it
// reserves now, but does not start them: clients pointed at EurekaURL find nothing until
// Start. They are stopped when the test ends.
func NewSpringServers(t testing.TB) *SpringServers {
	t.Helper()
	jar, err := springServersInstalled()
	if err != nil {
		springMissing(t)
	}
	dir := t.TempDir()
	s, err := prepareSpringServers(jar, dir, FreePort(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.proc.mu.Lock()
		started := s.proc.cmd != nil
		s.proc.mu.Unlock()
		if started {
			s.proc.Stop()
			if t.Failed() {
				t.Logf("output of the Spring servers:\n%s", s.proc.Output())
			}
		}
	})
	return s
}

func prepareSpringServers(jar, dir string, port int) (*SpringServers, error) {
	cfg := filepath.Join(dir, "config")
	if err := os.MkdirAll(cfg, 0o755); err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := []string{
		"java",
		// The client tier of the JIT and the serial collector cut the start time and the
		// memory of a server that lives for one test run.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-Xss512k", "-XX:-UsePerfData",
		"-jar", jar,
		"--server.port=" + strconv.Itoa(port),
		"--config.dir=" + cfg,
	}
	return &SpringServers{
		Addr:      addr,
		Port:      port,
		EurekaURL: "http://" + addr + "/eureka",
		ConfigURL: "http://" + addr + "/config",
		ConfigDir: cfg,
		proc:      &Process{Name: "spring-servers", args: argv, dir: dir},
	}, nil
}

// Start starts servers made by NewSpringServers, or killed ones again on the same port and
// configuration directory, and returns once both answer.
func (s *SpringServers) Start(t testing.TB) {
	t.Helper()
	s.proc.start(t)
	if err := s.waitReady(springReadyTimeout); err != nil {
		t.Fatalf("start: %v\n%s", err, s.proc.Output())
	}
}

// Restart stops the servers (SIGKILL when hard, else SIGTERM) and starts them again on the
// same port and configuration directory, returning once both answer. Eureka has forgotten
// every registration then.
func (s *SpringServers) Restart(t testing.TB, hard bool) {
	t.Helper()
	s.proc.Restart(t, hard)
	if err := s.waitReady(springReadyTimeout); err != nil {
		t.Fatalf("restart: %v\n%s", err, s.proc.Output())
	}
}

// Kill kills the JVM with SIGKILL.
func (s *SpringServers) Kill() { s.proc.Kill() }

// Stop stops the JVM with SIGTERM (SIGKILL after 10 s).
func (s *SpringServers) Stop() { s.proc.Stop() }

// Pid returns the JVM's process ID.
func (s *SpringServers) Pid() int { return s.proc.Pid() }

// Output returns what the servers printed so far.
func (s *SpringServers) Output() string { return s.proc.Output() }

// waitReady returns once Eureka lists its applications and the Config Server serves a
// configuration: the port opens seconds before Spring has finished starting either.
func (s *SpringServers) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for {
		last = s.check(c)
		if last == nil {
			return nil
		}
		s.proc.mu.Lock()
		exited := s.proc.exited
		s.proc.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("the Spring servers on %s exited before they were ready (last check: %v)", s.Addr, last)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Spring servers on %s were not ready within %v: %v", s.Addr, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *SpringServers) check(c *http.Client) error {
	for _, u := range []string{s.EurekaURL + "/apps", s.ConfigURL + "/application/default"} {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
	}
	return nil
}

// SharedSpringServers starts one pair of Spring servers for a whole test binary, on first
// use, so that only the tests that need them pay for the JVM. Keep it in a package variable
// of the test package and stop it from TestMain after m.Run, before looking for leaked
// goroutines:
//
//	var springServers testenv.SharedSpringServers
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		springServers.Stop()
//		if err := goleak.Find(); code == 0 && err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			code = 1
//		}
//		os.Exit(code)
//	}
//
// Tests sharing the servers must not restart them, and each should use its own service
// and application names, since they see each other's registrations and files.
type SharedSpringServers struct {
	once sync.Once
	s    *SpringServers
	err  error
}

// Get returns the shared servers, starting them on the first call. It calls Missing without
// java or the jar and fails the test when the servers do not start.
func (sh *SharedSpringServers) Get(t testing.TB) *SpringServers {
	t.Helper()
	sh.once.Do(func() { sh.s, sh.err = launchSpringServers() })
	if errors.Is(sh.err, ErrSpringServersMissing) {
		springMissing(t)
	}
	if sh.err != nil {
		t.Fatalf("start the shared Spring servers: %v", sh.err)
	}
	return sh.s
}

// Stop stops the shared servers if they were started and removes their directory.
func (sh *SharedSpringServers) Stop() {
	sh.once.Do(func() { sh.err = errors.New("testenv: SharedSpringServers used after Stop") })
	if sh.s == nil {
		return
	}
	sh.s.proc.Stop()
	_ = os.RemoveAll(sh.s.tempDir)
}

// launchSpringServers starts servers that outlive any one test.
func launchSpringServers() (*SpringServers, error) {
	jar, err := springServersInstalled()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tianshu-spring-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s, err := prepareSpringServers(jar, dir, port)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s.tempDir = dir
	if err := s.proc.launch(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.waitReady(springReadyTimeout); err != nil {
		s.proc.Stop()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n%s", err, s.proc.Output())
	}
	return s, nil
}
