package interop_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// springServers is the Eureka and Config Server JVM that the Spring scenarios share.
var springServers testenv.SharedSpringServers

// springPeer is the Spring Boot peer that the Spring scenarios share: one JVM serving
// /greet as springPeerApp in Eureka, reading springPeerApp's config from the Config Server,
// and calling services through its @LoadBalanced RestClient on request (/call).
var springPeer sharedSpringPeer

// The shared peer's names: its Eureka application (and Config Server application) and the
// servedBy its answers carry.
const (
	springPeerApp = "interop-spring"
	springPeerID  = "spring-peer"
)

// The Spring client's intervals in these tests, each a second instead of Spring's 30 s
// registry fetch, 35 s LoadBalancer cache and 30 s renewal. springDrainDelay is what a
// Tianshu instance waits between leaving Eureka and draining, so that the peer has stopped
// calling it first. Measured here (TestTianshuLeavesEurekaBeforeItStopsServing logs it):
// the Eureka server's delta lists the instance DELETED within 20 ms of its cancel, the
// peer's Eureka client applies that delta within its 1 s fetch, and yet the peer makes its
// last call to the instance 4.7-5.3 s after the shutdown began, with the LoadBalancer cache
// at 1 s, at 100 ms or turned off alike: some stage between Spring's Eureka client and its
// LoadBalancer holds the old list about 4 s longer than the two intervals. Twice the
// measured figure, for a loaded machine.
const (
	springFetchSeconds = 1
	springCacheTTL     = "1s"
	springDrainDelay   = 10 * time.Second
)

// springPeerInstall builds the peer's jar.
const springPeerInstall = "bash scripts/install/spring-java.sh"

// springPeerDir returns where scripts/install/spring-java.sh puts the peer (the tools
// directory, outside the checkout: see the script).
func springPeerDir() string { return testenv.ToolPath("spring-java") }

// springPeerInputsHash recomputes the hash scripts/install/spring-java.sh records for the
// sources it built from: sha256 over the lines "<sha256>  <path>" of interop/spring-java's
// pom.xml and src/ files, in byte order of their paths.
func springPeerInputsHash() (string, error) {
	root := filepath.Join(testenv.RepoRoot(), "interop", "spring-java")
	files := []string{"pom.xml"}
	err := filepath.WalkDir(filepath.Join(root, "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	var list strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&list, "%x  %s\n", sha256.Sum256(b), f)
	}
	sum := sha256.Sum256([]byte(list.String()))
	return hex.EncodeToString(sum[:]), nil
}

// springPeerJar returns the peer's jar if it is built from the checkout's sources; else
// missing says what to install, for testenv.Missing.
func springPeerJar() (jar, missing string) {
	if _, err := exec.LookPath("java"); err != nil {
		return "", "java (Java 17, for the Spring Boot peer)"
	}
	jar = filepath.Join(springPeerDir(), "spring-interop.jar")
	if _, err := os.Stat(jar); err != nil {
		return "", "the Spring Boot peer " + jar + " (" + springPeerInstall + " builds it)"
	}
	want, err := springPeerInputsHash()
	if err != nil {
		return "", "the Spring Boot peer's sources (" + err.Error() + ")"
	}
	got, _ := os.ReadFile(filepath.Join(springPeerDir(), ".inputs.sha256"))
	if strings.TrimSpace(string(got)) != want {
		return "", "a Spring Boot peer built from this checkout's sources (" + jar + " was built from others; " +
			springPeerInstall + " rebuilds it)"
	}
	return jar, ""
}

// springPeerArgs are the java arguments that start the peer in mode with Spring Boot
// properties (name=value) after the test defaults.
func springPeerArgs(jar, mode string, props ...string) []string {
	argv := []string{
		// The client JIT tier and the serial collector start a short-lived JVM faster.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-XX:-UsePerfData",
		"-jar", jar, mode,
		"--eureka.client.registry-fetch-interval-seconds=" + strconv.Itoa(springFetchSeconds),
		"--spring.cloud.loadbalancer.cache.ttl=" + springCacheTTL,
		"--eureka.instance.lease-renewal-interval-in-seconds=1",
		"--eureka.instance.lease-expiration-duration-in-seconds=3",
		"--eureka.client.initial-instance-info-replication-interval-seconds=1",
		"--eureka.client.instance-info-replication-interval-seconds=1",
	}
	for _, p := range props {
		argv = append(argv, "--"+p)
	}
	return argv
}

// springPeerProcess is a running peer JVM.
type springPeerProcess struct {
	*javaProcess
	cmd     *exec.Cmd
	BaseURL string // http://127.0.0.1:<port>
	// StartTime is the JVM's uptime when Spring was ready, as the peer reports it;
	// WallTime is the time from exec to the READY line.
	StartTime, WallTime time.Duration
}

// launchSpringPeer starts the peer in serve mode on a free port and waits for its READY line.
func launchSpringPeer(jar string, srv *testenv.SpringServers, app, id string, props ...string) (*springPeerProcess, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	props = append([]string{
		"server.port=" + strconv.Itoa(port),
		"server.address=127.0.0.1",
		"spring.application.name=" + app,
		"peer.id=" + id,
		"eureka.client.service-url.defaultZone=" + srv.EurekaURL + "/",
		"spring.config.import=configserver:" + srv.ConfigURL,
	}, props...)
	dir, err := os.MkdirTemp("", "tianshu-spring-peer-")
	if err != nil {
		return nil, err
	}
	p := &springPeerProcess{javaProcess: &javaProcess{Name: "spring peer " + id, exited: make(chan struct{})},
		BaseURL: "http://127.0.0.1:" + strconv.Itoa(port)}
	p.cmd = exec.Command("java", springPeerArgs(jar, "serve", props...)...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.javaProcess, p.javaProcess
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := p.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start the Spring peer: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		_ = os.RemoveAll(dir)
		close(p.exited)
	}()
	deadline := time.Now().Add(javaStartTimeout)
	for {
		for _, l := range strings.Split(p.Output(), "\n") {
			if rest, ok := strings.CutPrefix(l, "READY "); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					ms, _ := strconv.Atoi(f[1])
					p.StartTime = time.Duration(ms) * time.Millisecond
				}
				p.WallTime = time.Since(started)
				return p, nil
			}
			if strings.HasPrefix(l, "ERROR") {
				p.stop()
				return nil, fmt.Errorf("the Spring peer failed: %s\n%s", l, p.Output())
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("the Spring peer exited before it was ready:\n%s", p.Output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the Spring peer was not ready within %v:\n%s", javaStartTimeout, p.Output())
		}
	}
}

// stop sends SIGTERM, which lets Spring deregister from Eureka, and SIGKILL after 15 s.
func (p *springPeerProcess) stop() {
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-p.exited
	}
}

func freeLoopbackPort() (int, error) {
	// testenv.FreePort needs a test; the shared peer starts outside any.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// sharedSpringPeer starts the peer once per test binary, on the first test that needs it.
type sharedSpringPeer struct {
	once sync.Once
	p    *springPeerProcess
	err  error
}

// Get returns the shared peer (and the servers it uses), starting both on first use. It
// calls testenv.Missing when java or the jar is missing.
func (sh *sharedSpringPeer) Get(t *testing.T) (*springPeerProcess, *testenv.SpringServers) {
	t.Helper()
	jar, missing := springPeerJar()
	if missing != "" {
		testenv.Missing(t, missing)
	}
	srv := springServers.Get(t)
	sh.once.Do(func() {
		sh.p, sh.err = launchSpringPeer(jar, srv, springPeerApp, springPeerID)
		if sh.err == nil {
			t.Logf("the Spring peer was ready %v after exec (JVM uptime %v)",
				sh.p.WallTime.Round(time.Millisecond), sh.p.StartTime)
		}
	})
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of the Spring peer so far:\n%s", sh.p.Output())
		}
	})
	return sh.p, srv
}

// Stop stops the shared peer if it was started; TestMain calls it before the servers' Stop.
func (sh *sharedSpringPeer) Stop() {
	sh.once.Do(func() { sh.err = errors.New("the shared Spring peer was used after Stop") })
	if sh.p != nil {
		sh.p.stop()
	}
}

// peerCall asks the peer to call service count times through its @LoadBalanced RestClient,
// intervalMs apart, and returns the lines of its answer as they arrive on lines, closed
// after the DONE line (or when the answer ends).
func peerCall(t *testing.T, p *springPeerProcess, service string, count, intervalMs int) <-chan string {
	t.Helper()
	q := url.Values{"service": {service}, "count": {strconv.Itoa(count)}, "interval-ms": {strconv.Itoa(intervalMs)}}
	resp, err := http.Get(p.BaseURL + "/call?" + q.Encode())
	if err != nil {
		t.Fatalf("GET /call: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		t.Fatalf("GET /call: %s: %s", resp.Status, b)
	}
	lines := make(chan string, count+16)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// callResult sums up a /call answer.
type callResult struct {
	served map[string]int       // answers by servedBy
	last   map[string]time.Time // when the last answer of each servedBy arrived
	failed []string             // FAIL lines
	done   string               // the DONE line
}

// collectCall reads lines until DONE, failing the test after timeout.
func collectCall(t *testing.T, lines <-chan string, timeout time.Duration) callResult {
	t.Helper()
	r := callResult{served: map[string]int{}, last: map[string]time.Time{}}
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the peer's /call answer ended without DONE: %+v", r)
			}
			switch {
			case strings.HasPrefix(l, "ANSWER "):
				_, by, _ := strings.Cut(strings.TrimPrefix(l, "ANSWER "), "|")
				r.served[by]++
				r.last[by] = time.Now()
			case strings.HasPrefix(l, "FAIL "):
				r.failed = append(r.failed, l)
			case strings.HasPrefix(l, "DONE"):
				r.done = l
				return r
			}
		case <-deadline:
			t.Fatalf("no DONE from the peer's /call within %v: %+v", timeout, r)
		}
	}
}

// runSpringCall runs the peer in call mode (its own JVM, no web server, not registered):
// count calls of service through its @LoadBalanced RestClient, intervalMs apart. It returns
// the lines the peer printed once it has exited.
func runSpringCall(t *testing.T, srv *testenv.SpringServers, service string, count, intervalMs int) []string {
	t.Helper()
	jar, missing := springPeerJar()
	if missing != "" {
		testenv.Missing(t, missing)
	}
	p := &javaProcess{Name: "spring peer (call)", exited: make(chan struct{})}
	cmd := exec.Command("java", springPeerArgs(jar, "call",
		"spring.application.name=interop-spring-caller",
		"eureka.client.service-url.defaultZone="+srv.EurekaURL+"/",
		"peer.service="+service, "peer.count="+strconv.Itoa(count), "peer.interval-ms="+strconv.Itoa(intervalMs))...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = p, p
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the Spring peer in call mode: %v", err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	select {
	case <-p.exited:
	case <-time.After(javaStartTimeout + time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		t.Fatalf("the Spring peer in call mode did not finish:\n%s", p.Output())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the Spring peer in call mode exited with %d:\n%s", code, p.Output())
	}
	return strings.Split(p.Output(), "\n")
}
