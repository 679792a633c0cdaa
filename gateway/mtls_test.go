package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/rpc"
)

// testCA signs certificates for a test and writes them as PEM files.
type testCA struct {
	t    *testing.T
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA's certificate
	n    int64
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	ca := &testCA{t: t, dir: t.TempDir(), n: 1}
	ca.cert, ca.key = ca.sign(&x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature})
	ca.file = filepath.Join(ca.dir, name+".pem")
	writePEMFile(t, ca.file, "CERTIFICATE", ca.cert.Raw)
	return ca
}

// sign makes tmpl a certificate signed by the CA (self-signed while the CA has no key yet).
func (ca *testCA) sign(tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.n++
	tmpl.SerialNumber = big.NewInt(ca.n)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, signer := tmpl, key
	if ca.cert != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		ca.t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		ca.t.Fatal(err)
	}
	return cert, key
}

// issue writes a certificate for name (a server's when server, else a client's) and its
// key, and returns their paths.
func (ca *testCA) issue(name string, server bool) (certFile, keyFile string) {
	ca.t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: name}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{name}
	}
	cert, key := ca.sign(tmpl)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		ca.t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(ca.dir, name+"-cert.pem"), filepath.Join(ca.dir, name+"-key.pem")
	writePEMFile(ca.t, certFile, "CERTIFICATE", cert.Raw)
	writePEMFile(ca.t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEMFile(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startMTLSUpstream serves HTTPS on loopback with a certificate for 127.0.0.1 and name,
// demanding a client certificate the CA signed, and answers with the client's name.
func startMTLSUpstream(t *testing.T, ca *testCA, name string) int {
	t.Helper()
	cert, key := ca.issue(name, true)
	cfg, err := rpc.NewServerTLSConfig(rpc.TLSFiles{CertFile: cert, KeyFile: key, CAFile: ca.file}, "h2", "http/1.1")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The handshakes refused on purpose would be logged.
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName+" over "+r.Proto)
	})}
	go func() { _ = srv.Serve(tls.NewListener(lis, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().(*net.TCPAddr).Port
}

// TestMutualTLSToUpstreams: an upstream that demands a client certificate answers the
// gateway presenting the one a route's tls names, at a URL and as a service of the
// registry (its https endpoint, its certificate verified for the service's name); without
// a certificate, or with one of another CA, the gateway answers 502 with the error body.
func TestMutualTLSToUpstreams(t *testing.T) {
	ca, stranger := newTestCA(t, "ca"), newTestCA(t, "stranger-ca")
	byURL := startMTLSUpstream(t, ca, "localhost")
	reg := registered(t, "orders", "https", startMTLSUpstream(t, ca, "orders"))
	gwCert, gwKey := ca.issue("gateway", false)
	otherCert, otherKey := stranger.issue("gateway", false)
	doc := fmt.Sprintf(`
gateway:
  routes:
    - {name: url, match: {path: {prefix: /url}}, target: {urls: ["https://127.0.0.1:%[1]d"], tls: {caFile: %[2]q, certFile: %[3]q, keyFile: %[4]q}}}
    - {name: svc, match: {path: {prefix: /svc}}, target: {service: orders, tls: {caFile: %[2]q, certFile: %[3]q, keyFile: %[4]q}}}
    - {name: nocert, match: {path: {prefix: /nocert}}, target: {urls: ["https://127.0.0.1:%[1]d"], tls: {caFile: %[2]q}}}
    - {name: stranger, match: {path: {prefix: /stranger}}, target: {urls: ["https://127.0.0.1:%[1]d"], tls: {caFile: %[2]q, certFile: %[5]q, keyFile: %[6]q}}}
`, byURL, ca.file, gwCert, gwKey, otherCert, otherKey)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg), gateway.WithLogger(quiet()))
	for _, path := range []string{"/url", "/svc"} {
		if got := do(t, nil, "GET", base+path, nil, ""); got.status != 200 || got.body != "hello gateway over HTTP/2.0" {
			t.Errorf("%s: %d %q, want 200 \"hello gateway over HTTP/2.0\"", path, got.status, got.body)
		}
	}
	for _, path := range []string{"/nocert", "/stranger"} {
		if got := do(t, nil, "GET", base+path, nil, ""); got.status != http.StatusBadGateway || got.err.Code != "UNAVAILABLE" {
			t.Errorf("%s: %d %q, want 502 with the error body", path, got.status, got.body)
		}
	}
}

// TestUpstreamTLSRefusesWhatCannotWork: tls sections that could not work are refused
// whole, by Parse when the document shows it, by Apply when the files do.
func TestUpstreamTLSRefusesWhatCannotWork(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{`{urls: ["https://a:1"], tls: {certFile: c.pem}}`, `routes[0].target.tls: certFile "c.pem", keyFile "": give both`},
		{`{urls: ["http://a:1"], tls: {caFile: ca.pem}}`, `routes[0].target.urls[0]: "http://a:1" with tls: want an https:// URL`},
		{`{urls: ["https://a:1", "https://b:1"], tls: {caFile: ca.pem}}`, "routes[0].target.tls.serverName: empty, with urls on 2 hosts"},
	} {
		_, err := gateway.Parse([]byte("gateway:\n  routes:\n    - {name: a, match: {path: {exact: /}}, target: " + tc.target + "}\n"))
		if !errors.Is(err, gateway.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant an error wrapping gateway.ErrInvalid containing %q", tc.target, err, tc.want)
		}
	}
	c, err := gateway.Parse([]byte(`gateway: {routes: [{name: a, match: {path: {exact: /}}, target: {urls: ["https://127.0.0.1:1"], tls: {caFile: /nonexistent/ca.pem}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	err = g.Apply(c)
	if !errors.Is(err, gateway.ErrInvalid) || !errors.Is(err, rpc.ErrInvalidTLS) || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Errorf("Apply with a missing CA file: %v, want an error wrapping ErrInvalid and rpc.ErrInvalidTLS naming the file", err)
	}
	if g.Generation() != 0 {
		t.Errorf("generation %d after a failed Apply, want 0", g.Generation())
	}
}
