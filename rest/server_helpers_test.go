package rest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc/httperr"
)

// noLeaks checks, when the test and its cleanups are done, that it left no goroutine
// behind. The package's TestMain belongs to the client's files; until then each server test
// checks for itself. It must be called first, so that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// quiet is a logger that writes only when the test fails.
func quiet(t testing.TB) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t testing.TB }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(string(p)); return len(p), nil }

// start listens and serves srv, and shuts it down when the test ends. It returns the
// server's base URL (http://127.0.0.1:port).
func start(t testing.TB, srv *rest.Server) string {
	t.Helper()
	addr, err := srv.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + addr.String()
}

// newServer is rest.NewServer on a loopback port with a quiet logger and no deregister
// delay, failing the test on an error.
func newServer(t testing.TB, mux *http.ServeMux, opts ...rest.ServerOption) *rest.Server {
	t.Helper()
	opts = append([]rest.ServerOption{rest.WithLogger(quiet(t)), rest.WithDeregisterDelay(0)}, opts...)
	srv, err := rest.NewServer("127.0.0.1:0", mux, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// client returns an HTTP client whose idle connections are closed when the test ends.
func client(t testing.TB, tr *http.Transport) *http.Client {
	if tr == nil {
		tr = &http.Transport{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// answer is what a test reads of a response.
type answer struct {
	status int
	header http.Header
	body   string
	err    httperr.Body // when the body is the JSON error body
}

func do(t testing.TB, c *http.Client, req *http.Request) answer {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.Header.Get("Content-Type") == "application/json" {
		_ = json.Unmarshal(b, &a.err)
	}
	return a
}

func getAnswer(t testing.TB, c *http.Client, url string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// events records what happened, in order, from any goroutine.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// recordingRegistrar passes calls on to a registrar and records them; before each
// deregistration it runs onLeave, which tests use to look at the server at that moment.
type recordingRegistrar struct {
	registry.Registrar
	ev      *events
	onLeave func()
}

func (r *recordingRegistrar) Register(ctx context.Context, in *registry.Instance) error {
	err := r.Registrar.Register(ctx, in)
	r.ev.add("register")
	return err
}

func (r *recordingRegistrar) Deregister(ctx context.Context, in *registry.Instance) error {
	if r.onLeave != nil {
		r.onLeave()
	}
	r.ev.add("deregister")
	return r.Registrar.Deregister(ctx, in)
}

// recordingListener records when it is closed, which is when the server stops accepting.
type recordingListener struct {
	net.Listener
	ev   *events
	once sync.Once
}

func (l *recordingListener) Close() error {
	l.once.Do(func() { l.ev.add("listener closed") })
	return l.Listener.Close()
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// certs is a throwaway CA and a server certificate it signed for 127.0.0.1, written to
// files.
type certs struct {
	dir, certFile, keyFile string
	pool                   *x509.CertPool
	caKey                  *ecdsa.PrivateKey
	ca                     *x509.Certificate
}

func newCerts(t testing.TB) *certs {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &certs{dir: dir, certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key"),
		pool: x509.NewCertPool(), caKey: key, ca: ca}
	c.pool.AddCert(ca)
	c.issue(t, 100)
	return c
}

// issue writes a new server certificate with the given serial number.
func (c *certs) issue(t testing.TB, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "orders"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Written aside and renamed, key first, as a rotation tool would; the modification
	// time is moved on so that a reload cannot miss the change on a coarse clock.
	later := time.Now().Add(time.Duration(serial) * time.Second)
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{c.keyFile, "EC PRIVATE KEY", kder}, {c.certFile, "CERTIFICATE", der}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, later, later); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *certs) clientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}
}
