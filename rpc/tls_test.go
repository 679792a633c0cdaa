package rpc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// testCA is a throwaway certificate authority for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key with the given serial for the service "echo" (the
// name a tianshu:///echo client verifies), usable by servers and clients alike.
func (ca *testCA) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "tianshu test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"echo"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// tlsDir holds one side's PEM files.
type tlsDir struct{ rpc.TLSFiles }

// writeTLS writes a certificate, key and CA into a new directory.
func writeTLS(t *testing.T, certPEM, keyPEM, caPEM []byte) tlsDir {
	t.Helper()
	dir := t.TempDir()
	d := tlsDir{rpc.TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem"), CAFile: filepath.Join(dir, "ca.pem")}}
	d.rotate(t, certPEM, keyPEM, caPEM)
	return d
}

// rotate overwrites the files that are given (nil leaves one alone) and moves their
// modification time forward, as a certificate manager would a while later.
func (d tlsDir) rotate(t *testing.T, certPEM, keyPEM, caPEM []byte) {
	t.Helper()
	later := time.Now().Add(time.Duration(time.Now().UnixNano()%1000+1) * time.Millisecond)
	for path, data := range map[string][]byte{d.CertFile: certPEM, d.KeyFile: keyPEM, d.CAFile: caPEM} {
		if data == nil {
			continue
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, later, later); err != nil {
			t.Fatal(err)
		}
	}
}

func serverTLS(t *testing.T, files rpc.TLSFiles) credentials.TransportCredentials {
	t.Helper()
	c, err := rpc.NewServerTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientTLS(t *testing.T, files rpc.TLSFiles) credentials.TransportCredentials {
	t.Helper()
	c, err := rpc.NewClientTLS(files)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dialWith(t *testing.T, d registry.Discovery, service string, opts ...rpc.DialOption) testpb.EchoClient {
	t.Helper()
	conn, err := rpc.Dial(context.Background(), "tianshu:///"+service, append([]rpc.DialOption{rpc.WithDiscovery(d), rpc.WithDialLogger(discardLogger())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testpb.NewEchoClient(conn)
}

// peerSerial makes one call on a fresh channel and returns the serial number of the
// certificate the server presented.
func peerSerial(t *testing.T, d registry.Discovery, creds credentials.TransportCredentials) (int64, error) {
	t.Helper()
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(d), rpc.WithTransportCredentials(creds), rpc.WithDialLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := testpb.NewEchoClient(conn).Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true), grpc.Peer(&p)); err != nil {
		return 0, err
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		t.Fatalf("call was not over TLS: auth info %v", p.AuthInfo)
	}
	return info.State.PeerCertificates[0].SerialNumber.Int64(), nil
}

func TestATLSServerAnnouncesGrpcsAndServesTLSClients(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, 10)
	srvFiles := writeTLS(t, cert, key, nil)
	srvFiles.CAFile = ""
	reg := newRegistry(t)
	srv := startProvider(t, reg, "echo", "a", 0, rpc.WithServerCredentials(serverTLS(t, srvFiles.TLSFiles)))

	serial, err := peerSerial(t, reg, clientTLS(t, rpc.TLSFiles{CAFile: writeTLS(t, nil, nil, ca.pem).CAFile}))
	if err != nil || serial != 10 {
		t.Fatalf("TLS call = serial %d, %v; want served with certificate 10", serial, err)
	}
	in := srv.Instance()
	if len(in.Endpoints) != 1 || in.Endpoints[0].Scheme != rpc.SchemeTLS {
		t.Fatalf("TLS server announces %v, want one grpcs endpoint", in.Endpoints)
	}
}

// countingListener counts the connections a server accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestAPlaintextClientNeverConnectsToAGrpcsEndpoint(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, 10)
	files := writeTLS(t, cert, key, nil)
	srv := rpc.NewServer(rpc.WithServerCredentials(serverTLS(t, rpc.TLSFiles{CertFile: files.CertFile, KeyFile: files.KeyFile})))
	testpb.RegisterEchoServer(srv, echo{id: "tls"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: lis}
	go func() { _ = srv.Serve(counted) }()
	t.Cleanup(srv.Stop)
	reg := newRegistry(t)
	port := lis.Addr().(*net.TCPAddr).Port
	if err := reg.Register(context.Background(), &registry.Instance{ID: "tls", Service: "echo", Endpoints: []registry.Endpoint{{Scheme: "grpcs", Host: "127.0.0.1", Port: port}}}); err != nil {
		t.Fatal(err)
	}

	c := dialWith(t, reg, "echo")
	var callErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, callErr = c.Echo(context.Background(), &testpb.EchoRequest{}); strings.Contains(callErr.Error(), "no instance") {
			break
		}
	}
	if status.Code(callErr) != codes.Unavailable || !strings.Contains(callErr.Error(), "[grpc]") {
		t.Fatalf("plaintext call to a TLS-only service = %v; want Unavailable saying no instance has a grpc endpoint", callErr)
	}
	if n := counted.n.Load(); n != 0 {
		t.Fatalf("the TLS server accepted %d connections from a plaintext client", n)
	}

	_, err = rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithEndpointSchemes("grpcs"))
	if !errors.Is(err, rpc.ErrInsecureEndpoint) || !strings.Contains(err.Error(), "NewClientTLS") {
		t.Fatalf("plaintext Dial asking for grpcs = %v; want ErrInsecureEndpoint naming NewClientTLS", err)
	}
}

func TestEachClientDialsTheEndpointThatMatchesItsSecurity(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, 10)
	files := writeTLS(t, cert, key, ca.pem)
	serve := func(id string, opts ...rpc.ServerOption) int {
		srv := rpc.NewServer(opts...)
		testpb.RegisterEchoServer(srv, echo{id: id})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		return lis.Addr().(*net.TCPAddr).Port
	}
	plainPort := serve("plain")
	tlsPort := serve("tls", rpc.WithServerCredentials(serverTLS(t, rpc.TLSFiles{CertFile: files.CertFile, KeyFile: files.KeyFile})))
	reg := newRegistry(t)
	// One instance offering both, plaintext listed first.
	if err := reg.Register(context.Background(), &registry.Instance{ID: "both", Service: "echo", Endpoints: []registry.Endpoint{
		{Scheme: "grpc", Host: "127.0.0.1", Port: plainPort}, {Scheme: "grpcs", Host: "127.0.0.1", Port: tlsPort},
	}}); err != nil {
		t.Fatal(err)
	}
	secure := clientTLS(t, rpc.TLSFiles{CAFile: files.CAFile})
	tests := []struct {
		name string
		opts []rpc.DialOption
		want string
	}{
		{"a plaintext client uses the grpc endpoint", nil, "plain"},
		{"a TLS client uses the grpcs endpoint", []rpc.DialOption{rpc.WithTransportCredentials(secure)}, "tls"},
		{"a TLS client that accepts both prefers grpcs whatever the instance's order", []rpc.DialOption{rpc.WithTransportCredentials(secure), rpc.WithEndpointSchemes("grpcs", "grpc")}, "tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := dialWith(t, reg, "echo", tc.opts...).Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
			if err != nil || r.ServedBy != tc.want {
				t.Fatalf("call = %v, %v; want served by %s", r, err, tc.want)
			}
		})
	}
}

func TestMutualTLSRefusesClientsWithoutACertificateFromTheCA(t *testing.T) {
	ca, other := newTestCA(t, "ca"), newTestCA(t, "other")
	srvCert, srvKey := ca.issue(t, 10)
	reg := newRegistry(t)
	startProvider(t, reg, "echo", "a", 0, rpc.WithServerCredentials(serverTLS(t, writeTLS(t, srvCert, srvKey, ca.pem).TLSFiles)))

	goodCert, goodKey := ca.issue(t, 20)
	badCert, badKey := other.issue(t, 30)
	caOnly := writeTLS(t, nil, nil, ca.pem)
	tests := []struct {
		name   string
		files  rpc.TLSFiles
		wantOK bool
	}{
		{"a client with a certificate from the CA is served", writeTLS(t, goodCert, goodKey, ca.pem).TLSFiles, true},
		{"a client without a certificate is refused", rpc.TLSFiles{CAFile: caOnly.CAFile}, false},
		{"a client with a certificate from another CA is refused", writeTLS(t, badCert, badKey, ca.pem).TLSFiles, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWith(t, reg, "echo", rpc.WithTransportCredentials(clientTLS(t, tc.files)))
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := c.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(tc.wantOK))
			if tc.wantOK != (err == nil) {
				t.Fatalf("call = %v, want success %v", err, tc.wantOK)
			}
		})
	}
}

func TestRotatedCertificatesServeNewConnectionsWithoutARestart(t *testing.T) {
	oldCA, newCA := newTestCA(t, "old"), newTestCA(t, "new")
	cert, key := oldCA.issue(t, 1)
	srvFiles := writeTLS(t, cert, key, nil)
	srvFiles.CAFile = ""
	cliFiles := writeTLS(t, nil, nil, oldCA.pem)
	reg := newRegistry(t)
	startProvider(t, reg, "echo", "a", 0, rpc.WithServerCredentials(serverTLS(t, srvFiles.TLSFiles)))
	client := clientTLS(t, rpc.TLSFiles{CAFile: cliFiles.CAFile})

	if s, err := peerSerial(t, reg, client); err != nil || s != 1 {
		t.Fatalf("before rotation: serial %d, %v; want 1", s, err)
	}

	// A new leaf from the same CA: the server presents it at the next handshake.
	cert, key = oldCA.issue(t, 2)
	srvFiles.rotate(t, cert, key, nil)
	if s, err := peerSerial(t, reg, client); err != nil || s != 2 {
		t.Fatalf("after the server's rotation: serial %d, %v; want 2", s, err)
	}

	// Half a rotation (a key that does not match the certificate) keeps the last good pair.
	_, strayKey := oldCA.issue(t, 3)
	srvFiles.rotate(t, nil, strayKey, nil)
	if s, err := peerSerial(t, reg, client); err != nil || s != 2 {
		t.Fatalf("with a mismatched key on disk: serial %d, %v; want the last good certificate 2", s, err)
	}

	// A move to a new CA: both sides pick it up from disk.
	cert, key = newCA.issue(t, 4)
	srvFiles.rotate(t, cert, key, nil)
	if _, err := peerSerial(t, reg, client); err == nil {
		t.Fatal("a client trusting only the old CA accepted the new CA's certificate")
	}
	cliFiles.rotate(t, nil, nil, newCA.pem)
	if s, err := peerSerial(t, reg, client); err != nil || s != 4 {
		t.Fatalf("after the client's CA rotation: serial %d, %v; want 4", s, err)
	}
}

func TestBadTLSFilesFailAtStartNamingTheFile(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, 1)
	good := writeTLS(t, cert, key, ca.pem)
	notPEM := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name     string
		server   bool
		files    rpc.TLSFiles
		wantText string
	}{
		{"a server without a certificate", true, rpc.TLSFiles{}, "CertFile and KeyFile"},
		{"a server whose certificate file is missing", true, rpc.TLSFiles{CertFile: missing, KeyFile: good.KeyFile}, missing},
		{"a server whose CA file holds no PEM", true, rpc.TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: notPEM}, notPEM},
		{"a client with a certificate but no key", false, rpc.TLSFiles{CertFile: good.CertFile}, "together"},
		{"a client whose CA file is missing", false, rpc.TLSFiles{CAFile: missing}, missing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.server {
				_, err = rpc.NewServerTLS(tc.files)
			} else {
				_, err = rpc.NewClientTLS(tc.files)
			}
			if !errors.Is(err, rpc.ErrInvalidTLS) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("error = %v, want ErrInvalidTLS naming %q", err, tc.wantText)
			}
		})
	}
}

// A provider serving TLS with certificates that a certificate manager rotates on disk, and
// a consumer that verifies it; the server announces a grpcs endpoint, so only TLS clients
// dial it. (Not run: it needs certificate files.)
func ExampleNewServerTLS() {
	ctx := context.Background()
	reg := newExampleRegistry()
	serverCreds, err := rpc.NewServerTLS(rpc.TLSFiles{
		CertFile: "/etc/tianshu/tls/tls.crt", KeyFile: "/etc/tianshu/tls/tls.key",
		CAFile: "/etc/tianshu/tls/ca.crt", // mutual TLS: clients need a certificate from this CA
	})
	if err != nil {
		fmt.Println(err) // wraps rpc.ErrInvalidTLS and names the file
		return
	}
	srv := rpc.NewServer(rpc.WithService("orders"), rpc.WithRegistrar(reg), rpc.WithServerCredentials(serverCreds))
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(lis)
	defer srv.Shutdown(ctx)

	clientCreds, err := rpc.NewClientTLS(rpc.TLSFiles{
		CertFile: "/etc/tianshu/tls/tls.crt", KeyFile: "/etc/tianshu/tls/tls.key", CAFile: "/etc/tianshu/tls/ca.crt",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := rpc.Dial(ctx, "tianshu:///orders", rpc.WithDiscovery(reg), rpc.WithTransportCredentials(clientCreds))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
}

func newExampleRegistry() *memory.Registry { return memory.New() }
