package interop_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// javaStartTimeout bounds how long a Java peer may take to start and reach its registry: a
// JVM with Dubbo takes a few seconds alone and much longer on a loaded two-core machine.
const javaStartTimeout = 90 * time.Second

// dubboJar is the Java peer that scripts/install/dubbo-java.sh builds.
func dubboJar() string {
	return filepath.Join(testenv.RepoRoot(), "interop", "dubbo-java", "target", "dubbo-interop.jar")
}

// needJavaPeer stops the test when java or the built peer is missing: a failure in CI, a
// skip elsewhere (testenv.Missing), naming the install step.
func needJavaPeer(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		testenv.Missing(t, "java (Java 17, for the Dubbo peer)")
	}
	if _, err := os.Stat(dubboJar()); err != nil {
		testenv.Missing(t, "the Dubbo Java peer "+dubboJar()+" (bash scripts/install/dubbo-java.sh builds it)")
	}
}

// startJava starts the Java peer with args (see interop/dubbo-java's Main) and stops it when
// the test ends; its output is shown if the test fails.
func startJava(t *testing.T, name string, args ...string) *javaProcess {
	t.Helper()
	needJavaPeer(t)
	argv := append([]string{
		// The client JIT tier and the serial collector start a short-lived JVM faster.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-XX:-UsePerfData",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-jar", dubboJar(),
	}, args...)
	p := &javaProcess{Name: name, exited: make(chan struct{})}
	cmd := exec.Command("java", argv...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = p, p
	// Its own process group, and killed with the test binary: no JVM outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		// SIGTERM lets Dubbo unregister from the registry; SIGKILL if it takes too long.
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// javaProcess is a running Java peer; it collects what the peer prints.
type javaProcess struct {
	Name   string
	exited chan struct{}

	mu  sync.Mutex
	out bytes.Buffer
}

// Write takes the peer's stdout and stderr, from the goroutines os/exec copies them with.
func (p *javaProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output returns what the peer printed so far.
func (p *javaProcess) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitForLine waits until the peer prints a line starting with prefix and returns the
// lines printed so far. It fails the test at once when the peer prints a line starting
// "ERROR" (the peer's report of an exception), and after timeout.
func waitForLine(t *testing.T, p *javaProcess, prefix string, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lines := strings.Split(p.Output(), "\n")
		for _, l := range lines {
			if strings.HasPrefix(l, "ERROR") {
				t.Fatalf("%s failed: %s\n%s", p.Name, l, p.Output())
			}
			if strings.HasPrefix(l, prefix) {
				return lines
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %q line within %v:\n%s", p.Name, prefix, timeout, p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answer is one call's result as the Java consumer prints it.
type answer struct{ message, servedBy, group, version string }

// answers returns the ANSWER lines among lines.
func answers(lines []string) []answer {
	var out []answer
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, "ANSWER ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, "|", 4)
		for len(f) < 4 {
			f = append(f, "")
		}
		out = append(out, answer{f[0], f[1], f[2], f[3]})
	}
	return out
}
