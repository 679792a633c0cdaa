package testenv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ZooKeeperJar is the server jar installed by scripts/install/zookeeper.sh (Debian's
// zookeeperd). Its manifest names the jars it needs, so the classpath stays short.
const ZooKeeperJar = "/usr/share/java/zookeeper.jar"

// zkLogJar routes the server's slf4j logging to stderr (captured by Process); without it the
// server logs nothing at all, which makes a failing test hard to read.
const zkLogJar = "/usr/share/java/slf4j-simple.jar"

// ZooKeeperTick is the tickTime of test servers. Session timeouts must lie between two ticks
// and a minute; a short tick lets fault tests expire sessions in a second or two.
const ZooKeeperTick = 100 * time.Millisecond

// ErrZooKeeperMissing means java or the ZooKeeper jars are not installed.
var ErrZooKeeperMissing = errors.New("testenv: ZooKeeper (java and " + ZooKeeperJar + ") is not installed")

// ZooKeeper is a standalone ZooKeeper server started for tests on a loopback port with its
// own configuration and data directory.
type ZooKeeper struct {
	// Addr is host:port of the client port, on 127.0.0.1.
	Addr string
	// DataDir holds the snapshots and transaction logs; Restart keeps it.
	DataDir string
	proc    *Process
	tempDir string // removed by Stop when the server made it itself
}

// StartZooKeeper starts a ZooKeeper server for one test and stops it when the test ends. It
// calls Missing when java or the jars are absent. A JVM takes about a second to start: tests
// that need no fault of their own should share one server (SharedZooKeeper).
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	if err := zooKeeperInstalled(); err != nil {
		Missing(t, "ZooKeeper")
	}
	dir := t.TempDir()
	z, argv, err := prepareZooKeeper(dir, FreePort(t))
	if err != nil {
		t.Fatal(err)
	}
	z.proc = StartProcess(t, "zookeeper", dir, nil, argv...)
	if err := z.waitReady(60 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, z.proc.Output())
	}
	return z
}

// NewZooKeeper prepares a ZooKeeper server as StartZooKeeper does, on a port it reserves
// now, but does not start it: clients pointed at Addr find nothing until Start. It calls
// Missing when java or the jars are absent; the server is stopped when the test ends.
func NewZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	if err := zooKeeperInstalled(); err != nil {
		Missing(t, "ZooKeeper")
	}
	dir := t.TempDir()
	z, argv, err := prepareZooKeeper(dir, FreePort(t))
	if err != nil {
		t.Fatal(err)
	}
	z.proc = &Process{Name: "zookeeper", args: argv, dir: dir}
	t.Cleanup(func() {
		z.proc.mu.Lock()
		started := z.proc.cmd != nil
		z.proc.mu.Unlock()
		if started {
			z.proc.Stop()
			if t.Failed() {
				t.Logf("output of zookeeper:\n%s", z.proc.Output())
			}
		}
	})
	return z
}

func zooKeeperInstalled() error {
	if _, err := exec.LookPath("java"); err != nil {
		return ErrZooKeeperMissing
	}
	if _, err := os.Stat(ZooKeeperJar); err != nil {
		return ErrZooKeeperMissing
	}
	return nil
}

// prepareZooKeeper writes zoo.cfg under dir and returns the server and its command line.
func prepareZooKeeper(dir string, port int) (*ZooKeeper, []string, error) {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, nil, err
	}
	cfg := fmt.Sprintf(`tickTime=%d
minSessionTimeout=%d
maxSessionTimeout=60000
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
# Test data is worthless after a crash: skip fsync and the 64 MB log pre-allocation.
forceSync=no
preAllocSize=1024
maxClientCnxns=0
`, ZooKeeperTick.Milliseconds(), 2*ZooKeeperTick.Milliseconds(), data, port)
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, nil, err
	}
	cp := ZooKeeperJar
	if _, err := os.Stat(zkLogJar); err == nil {
		cp += ":" + zkLogJar
	}
	argv := []string{
		"java",
		// The client tier of the JIT and the serial collector halve the start time of a
		// server that lives for one test run.
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-XX:-UsePerfData",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", cp,
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath,
	}
	return &ZooKeeper{Addr: "127.0.0.1:" + strconv.Itoa(port), DataDir: data}, argv, nil
}

// waitReady returns once the server serves requests. ruok is not enough: ZooKeeper answers
// imok as soon as it listens, before it has loaded its database, and sessions opened in
// between are closed with "ZooKeeperServer not running". srvr tells the two apart: it
// reports the server's version and zxid only when the server is serving.
func (z *ZooKeeper) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := z.FourLetter("srvr")
		if err == nil && strings.HasPrefix(out, "Zookeeper version:") && strings.Contains(out, "Zxid:") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ZooKeeper on %s was not serving (srvr) within %v (last: %q, %v)", z.Addr, timeout, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FourLetter sends a four-letter command (ruok, stat, cons, dump, ...) and returns the
// answer.
func (z *ZooKeeper) FourLetter(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", z.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// Pause stops the server with SIGSTOP: clients see no answer, and sessions expire once the
// server resumes and notices the silence.
func (z *ZooKeeper) Pause() { z.proc.Pause() }

// Resume continues a paused server.
func (z *ZooKeeper) Resume() { z.proc.Resume() }

// Kill kills the server with SIGKILL, leaving its data directory.
func (z *ZooKeeper) Kill() { z.proc.Kill() }

// Restart stops the server (SIGKILL when hard, else SIGTERM) and starts it again on the same
// port and data directory, returning once it answers ruok.
func (z *ZooKeeper) Restart(t testing.TB, hard bool) {
	t.Helper()
	z.proc.Restart(t, hard)
	if err := z.waitReady(60 * time.Second); err != nil {
		t.Fatalf("restart: %v\n%s", err, z.proc.Output())
	}
}

// Start starts a server made by NewZooKeeper, or a killed one again on the same port and
// data directory, and returns once it serves.
func (z *ZooKeeper) Start(t testing.TB) {
	t.Helper()
	z.proc.start(t)
	if err := z.waitReady(60 * time.Second); err != nil {
		t.Fatalf("start: %v\n%s", err, z.proc.Output())
	}
}

// Output returns what the server printed so far.
func (z *ZooKeeper) Output() string { return z.proc.Output() }

// SharedZooKeeper starts one server for a whole test binary, on first use, so that only
// the tests that need it pay for the JVM. Keep it in a package variable of the test package
// and stop it from TestMain after m.Run, before looking for leaked goroutines (goleak's
// Cleanup option runs too late for that):
//
//	var zkServer testenv.SharedZooKeeper
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		zkServer.Stop()
//		if err := goleak.Find(); code == 0 && err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			code = 1
//		}
//		os.Exit(code)
//	}
type SharedZooKeeper struct {
	once sync.Once
	z    *ZooKeeper
	err  error
}

// Get returns the shared server, starting it on the first call. It calls Missing when java
// or the jars are absent and fails the test when the server does not start.
func (s *SharedZooKeeper) Get(t testing.TB) *ZooKeeper {
	t.Helper()
	s.once.Do(func() { s.z, s.err = launchZooKeeper() })
	if errors.Is(s.err, ErrZooKeeperMissing) {
		Missing(t, "ZooKeeper")
	}
	if s.err != nil {
		t.Fatalf("start the shared ZooKeeper: %v", s.err)
	}
	return s.z
}

// Stop stops the shared server if it was started and removes its directory.
func (s *SharedZooKeeper) Stop() {
	s.once.Do(func() { s.err = errors.New("testenv: SharedZooKeeper used after Stop") })
	if s.z == nil {
		return
	}
	s.z.proc.Stop()
	_ = os.RemoveAll(s.z.tempDir)
}

// launchZooKeeper starts a server that outlives any one test.
func launchZooKeeper() (*ZooKeeper, error) {
	if err := zooKeeperInstalled(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tianshu-zookeeper-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	z, argv, err := prepareZooKeeper(dir, port)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	z.tempDir = dir
	z.proc = &Process{Name: "zookeeper", args: argv, dir: dir}
	if err := z.proc.launch(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := z.waitReady(60 * time.Second); err != nil {
		z.proc.Stop()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n%s", err, z.proc.Output())
	}
	return z, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ExpireZooKeeperSession ends a client's session from outside, as the server does when the
// client stays silent past its timeout, but at once: it joins the session with its ID and
// password and closes it, in one write so that the client, whose connection the join drops,
// has no time to take the session back. The client finds the session expired on its next
// reconnection.
func ExpireZooKeeperSession(addr string, sessionID int64, passwd []byte) error {
	var err error
	for attempt := range 5 {
		err = expireOnce(addr, sessionID, passwd)
		if err == nil || attempt > 0 && errors.Is(err, errSessionGone) {
			// A retry that finds the session gone: the previous attempt closed it
			// before the client took its connection back.
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

var errSessionGone = errors.New("already expired or wrong password")

func expireOnce(addr string, sessionID int64, passwd []byte) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))

	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd (jute
	// buffer: length then bytes), readOnly.
	var req bytes.Buffer
	_ = binary.Write(&req, binary.BigEndian, int32(0))
	_ = binary.Write(&req, binary.BigEndian, int64(0))
	_ = binary.Write(&req, binary.BigEndian, int32(10000))
	_ = binary.Write(&req, binary.BigEndian, sessionID)
	_ = binary.Write(&req, binary.BigEndian, int32(len(passwd)))
	req.Write(passwd)
	req.WriteByte(0)
	// RequestHeader{xid, type=closeSession(-11)}.
	var cl bytes.Buffer
	_ = binary.Write(&cl, binary.BigEndian, int32(1))
	_ = binary.Write(&cl, binary.BigEndian, int32(-11))
	if _, err := c.Write(append(frame(req.Bytes()), frame(cl.Bytes())...)); err != nil {
		return err
	}
	resp, err := readFrame(c)
	if err != nil {
		return fmt.Errorf("join session %#x: %w", sessionID, err)
	}
	if len(resp) < 16 {
		return fmt.Errorf("join session %#x: short connect response (%d bytes)", sessionID, len(resp))
	}
	if got := int64(binary.BigEndian.Uint64(resp[8:16])); got != sessionID {
		return fmt.Errorf("join session %#x: server answered session %#x: %w", sessionID, got, errSessionGone)
	}
	// ReplyHeader{xid, zxid, err}.
	reply, err := readFrame(c)
	if err != nil {
		return fmt.Errorf("close session %#x: %w", sessionID, err)
	}
	if len(reply) >= 16 {
		if code := int32(binary.BigEndian.Uint32(reply[12:16])); code != 0 {
			return fmt.Errorf("close session %#x: server error %d", sessionID, code)
		}
	}
	return nil
}

func frame(b []byte) []byte {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	return append(n[:], b...)
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", size)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}
