package rpc_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/rpc"
)

// TestClientTLSConfigPresentsTheCertificateOnDisk: an HTTPS server demanding client
// certificates sees the one NewClientTLSConfig's files hold, and after a rotation on disk
// the rotated one on the next connection, without a new config.
func TestClientTLSConfigPresentsTheCertificateOnDisk(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue(t, 1)
	srvFiles := writeTLS(t, cert, key, ca.pem)
	srvCfg, err := rpc.NewServerTLSConfig(srvFiles.TLSFiles, "http/1.1")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].SerialNumber.String())
	})}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()

	cert, key = ca.issue(t, 10)
	cliFiles := writeTLS(t, cert, key, ca.pem)
	cfg, err := rpc.NewClientTLSConfig(rpc.TLSFiles{CertFile: cliFiles.CertFile, KeyFile: cliFiles.KeyFile, CAFile: cliFiles.CAFile, ServerName: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	serial := func() string {
		t.Helper()
		tr.CloseIdleConnections() // a new handshake each time
		resp, err := (&http.Client{Transport: tr}).Get("https://" + lis.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := serial(); got != "10" {
		t.Fatalf("the server saw serial %s, want 10", got)
	}
	cert, key = ca.issue(t, 11)
	cliFiles.rotate(t, cert, key, nil)
	if got := serial(); got != "11" {
		t.Fatalf("after the rotation the server saw serial %s, want 11", got)
	}

	noCert, err := rpc.NewClientTLSConfig(rpc.TLSFiles{CAFile: cliFiles.CAFile, ServerName: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	tr2 := &http.Transport{TLSClientConfig: noCert}
	defer tr2.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr2}).Get("https://" + lis.Addr().String()); err == nil {
		resp.Body.Close()
		t.Fatal("a client without a certificate was served")
	}
}

func TestClientTLSConfigRefusesBadFilesNamingThem(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for _, tc := range []struct {
		files rpc.TLSFiles
		want  string
	}{
		{rpc.TLSFiles{CertFile: "cert.pem"}, "together"},
		{rpc.TLSFiles{CAFile: missing}, missing},
		{rpc.TLSFiles{CertFile: missing, KeyFile: missing}, missing},
	} {
		if _, err := rpc.NewClientTLSConfig(tc.files); !errors.Is(err, rpc.ErrInvalidTLS) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalidTLS naming %q", tc.files, err, tc.want)
		}
	}
}
