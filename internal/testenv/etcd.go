package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Etcd is a single-member etcd server started for one test, listening on loopback.
type Etcd struct {
	*Process
	// Endpoint is the client URL, http://127.0.0.1:<port> (https:// with TLS).
	Endpoint string
	// Addr is the client address, 127.0.0.1:<port>.
	Addr string
	// DataDir is the server's data directory, kept across Restart.
	DataDir string
	// TLS is set when the server was started WithEtcdTLS.
	TLS *EtcdTLS
}

// EtcdTLS names the PEM files of a TLS-serving etcd: a throwaway CA and a server certificate
// it signed for 127.0.0.1 and localhost.
type EtcdTLS struct {
	CAFile, CertFile, KeyFile string
}

// EtcdOption configures StartEtcd.
type EtcdOption func(*etcdOptions)

type etcdOptions struct{ tls bool }

// WithEtcdTLS makes the server accept only TLS clients, with a CA generated for the test.
func WithEtcdTLS() EtcdOption { return func(o *etcdOptions) { o.tls = true } }

// EtcdBinary returns the etcd server to run: etcd in ToolsDir if a build put one there, else
// etcd on PATH (Debian's etcd-server package installs /usr/bin/etcd). It returns "" if neither
// exists.
func EtcdBinary() string {
	if p := ToolPath("etcd"); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// StartEtcd starts an etcd server with its data in a temporary directory and waits until it
// accepts connections; the server is stopped when the test ends. Without an etcd binary it
// calls Missing.
func StartEtcd(t testing.TB, opts ...EtcdOption) *Etcd {
	t.Helper()
	e, dir, argv := prepareEtcd(t, opts)
	e.Process = StartProcess(t, "etcd", dir, nil, argv...)
	WaitTCP(t, e.Addr, 30*time.Second)
	return e
}

// NewEtcd prepares an etcd server as StartEtcd does, on ports it reserves now, but does not
// start it: clients pointed at Endpoint find nothing until Start. The server is stopped when
// the test ends.
func NewEtcd(t testing.TB, opts ...EtcdOption) *Etcd {
	t.Helper()
	e, dir, argv := prepareEtcd(t, opts)
	e.Process = &Process{Name: "etcd", args: argv, dir: dir}
	t.Cleanup(func() {
		e.mu.Lock()
		started := e.cmd != nil
		e.mu.Unlock()
		if started {
			e.Process.Stop()
			if t.Failed() {
				t.Logf("output of etcd:\n%s", e.Output())
			}
		}
	})
	return e
}

func prepareEtcd(t testing.TB, opts []EtcdOption) (*Etcd, string, []string) {
	t.Helper()
	var o etcdOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := EtcdBinary()
	if bin == "" {
		Missing(t, "etcd")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	clientPort, peerPort := FreePort(t), FreePort(t)
	scheme := "http"
	e := &Etcd{DataDir: data, Addr: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	var tlsArgs []string
	if o.tls {
		scheme = "https"
		e.TLS = writeTestCerts(t, dir)
		// No --trusted-ca-file: with it etcd demands client certificates.
		tlsArgs = []string{"--cert-file", e.TLS.CertFile, "--key-file", e.TLS.KeyFile}
	}
	e.Endpoint = scheme + "://" + e.Addr
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	argv := []string{bin,
		"--name", "tianshu-test",
		"--data-dir", data,
		"--listen-client-urls", e.Endpoint,
		"--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "tianshu-test=" + peer,
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
	}
	argv = append(argv, tlsArgs...)
	return e, dir, argv
}

// Restart stops the server (SIGKILL when hard, else SIGTERM) and starts it again on the same
// ports and data, waiting until it accepts connections.
func (e *Etcd) Restart(t testing.TB, hard bool) {
	t.Helper()
	e.Process.Restart(t, hard)
	WaitTCP(t, e.Addr, 30*time.Second)
}

// Start starts a server made by NewEtcd, or one stopped with Kill or Stop again on the same
// ports and data, and waits until it serves: it accepts connections and has a leader.
func (e *Etcd) Start(t testing.TB) {
	t.Helper()
	e.Process.start(t)
	WaitTCP(t, e.Addr, 30*time.Second)
	e.waitHealthy(t, 30*time.Second)
}

// waitHealthy waits until the server reports itself healthy, which takes a leader: a member
// accepts connections an election timeout or two before it can serve a write.
func (e *Etcd) waitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	if e.TLS != nil {
		return // the plain client below cannot ask; WaitTCP has to do
	}
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := hc.Get(e.Endpoint + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`) {
				return
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd on %s not healthy within %v: %v", e.Addr, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeTestCerts writes a CA and a server certificate for loopback into dir.
func writeTestCerts(t testing.TB, dir string) *EtcdTLS {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tianshu test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	files := &EtcdTLS{
		CAFile:   filepath.Join(dir, "ca.pem"),
		CertFile: filepath.Join(dir, "server.pem"),
		KeyFile:  filepath.Join(dir, "server-key.pem"),
	}
	writePEM(t, files.CAFile, "CERTIFICATE", caDER)
	writePEM(t, files.CertFile, "CERTIFICATE", der)
	writePEM(t, files.KeyFile, "EC PRIVATE KEY", keyDER)
	return files
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
