package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// Transport security and the endpoint schemes that advertise it.
//
// A server given TLS credentials (WithServerCredentials) announces its endpoint with the
// scheme "grpcs" instead of "grpc". A client picks endpoints by scheme as follows:
//
//   - Without WithEndpointSchemes, a plaintext Dial dials only "grpc" endpoints and a Dial
//     with secure credentials only "grpcs" endpoints. An instance that offers neither is
//     skipped and logged once; an instance that offers both is dialled on the one that
//     matches the channel's security.
//   - WithEndpointSchemes lists the schemes to accept in order of preference. A plaintext
//     Dial that lists "grpcs" fails with ErrInsecureEndpoint: it would send calls, and any
//     per-call credentials, in clear text to a server that asked for TLS. A secure Dial may
//     list plaintext schemes (a TLS-terminating proxy behind a "grpc" endpoint, say); that
//     never weakens security, at worst the handshake fails.
//
// One channel has one transport security, so a consumer that must reach both kinds of
// instance dials twice.

// Endpoint schemes that Tianshu servers announce.
const (
	// SchemePlaintext marks an endpoint that serves gRPC without transport security.
	SchemePlaintext = "grpc"
	// SchemeTLS marks an endpoint that serves gRPC over TLS only.
	SchemeTLS = "grpcs"
)

// Errors of the TLS helpers and of Dial's scheme check, wrapped with details.
var (
	// ErrInvalidTLS: a certificate, key or CA file is missing, unreadable or not PEM, or the
	// key does not match the certificate.
	ErrInvalidTLS = errors.New("rpc: invalid TLS configuration")
	// ErrInsecureEndpoint: a plaintext Dial was asked to use endpoints that require TLS.
	ErrInsecureEndpoint = errors.New("rpc: plaintext client for a TLS endpoint")
)

// TLSFiles names the PEM files of one side of a TLS connection. The files are read again
// whenever their modification time or size changes (checked at each handshake), so that
// certificates rotated on disk take effect for new connections without a restart;
// established connections keep the certificate they were made with. A rotation that
// leaves the files unreadable or mismatched for a moment (the key written before the
// certificate) keeps the last good pair until both agree again.
type TLSFiles struct {
	// CertFile and KeyFile hold this side's certificate chain and private key. A server
	// needs them; a client gives them to authenticate itself to a server that demands
	// client certificates (mutual TLS).
	CertFile, KeyFile string
	// CAFile holds the certificates that verify the peer. On a server it turns on mutual
	// TLS: clients must present a certificate signed by one of them. On a client it
	// replaces the system roots for verifying servers.
	CAFile string
	// ServerName is the name a client verifies in the server's certificate. The default is
	// the channel's authority, which for tianshu:///<service> is the service name: instances
	// come and go on addresses nobody knows in advance, so a service's certificate names the
	// service (a DNS SAN such as "orders") and is valid on every host that serves it.
	ServerName string
	// MinVersion is the lowest TLS version accepted; the default is TLS 1.2.
	MinVersion uint16
}

// NewServerTLS returns server transport credentials over files, for WithServerCredentials.
// CertFile and KeyFile are required; CAFile turns on mutual TLS. The files are read once now
// so that a mistake fails at start: the error wraps ErrInvalidTLS and names the file.
func NewServerTLS(files TLSFiles) (credentials.TransportCredentials, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, fmt.Errorf("%w: a server needs CertFile and KeyFile", ErrInvalidTLS)
	}
	return newReloadingTLS(files, true)
}

// NewClientTLS returns client transport credentials over files, for
// WithTransportCredentials. All fields are optional: with none the client verifies servers
// against the system roots and presents no certificate. The files are read once now so that
// a mistake fails at start: the error wraps ErrInvalidTLS and names the file.
func NewClientTLS(files TLSFiles) (credentials.TransportCredentials, error) {
	if (files.CertFile == "") != (files.KeyFile == "") {
		return nil, fmt.Errorf("%w: give CertFile and KeyFile together (got %q and %q)", ErrInvalidTLS, files.CertFile, files.KeyFile)
	}
	return newReloadingTLS(files, false)
}

// NewServerTLSConfig returns a *tls.Config over files for servers that are not gRPC, such
// as the HTTP server of package rest, with the same reloading as NewServerTLS: each
// handshake takes the configuration built from the files' current contents (through
// GetConfigForClient), which offers nextProtos by ALPN (for net/http: "h2", "http/1.1").
// Errors wrap ErrInvalidTLS and name the file, as NewServerTLS's do.
func NewServerTLSConfig(files TLSFiles, nextProtos ...string) (*tls.Config, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, fmt.Errorf("%w: a server needs CertFile and KeyFile", ErrInvalidTLS)
	}
	r := &reloadingTLS{files: files, server: true, protos: slices.Clone(nextProtos)}
	if err := r.reload(r.stamps()); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: r.cfg.MinVersion,
		NextProtos: r.protos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			r.creds() // reloads when the files changed
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.cfg, nil
		},
	}, nil
}

// NewClientTLSConfig returns a *tls.Config over files for clients that are not gRPC, such
// as an http.Transport (the gateway's upstreams): CAFile verifies servers instead of the
// system roots, CertFile and KeyFile (together) are the certificate presented to a server
// that asks for one (mutual TLS), ServerName the name verified (default: the host dialled).
// The certificate is re-read at a handshake when its files changed, as NewClientTLS does;
// the CA is read once, here. Errors wrap ErrInvalidTLS and name the file.
func NewClientTLSConfig(files TLSFiles, nextProtos ...string) (*tls.Config, error) {
	if (files.CertFile == "") != (files.KeyFile == "") {
		return nil, fmt.Errorf("%w: give CertFile and KeyFile together (got %q and %q)", ErrInvalidTLS, files.CertFile, files.KeyFile)
	}
	r := &reloadingTLS{files: files, protos: slices.Clone(nextProtos)}
	if err := r.reload(r.stamps()); err != nil {
		return nil, err
	}
	cfg := r.cfg.Clone()
	if files.CertFile != "" {
		cfg.Certificates = nil
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			r.creds() // reloads when the files changed
			r.mu.Lock()
			defer r.mu.Unlock()
			return &r.cfg.Certificates[0], nil
		}
	}
	return cfg, nil
}

// WithServerCredentials makes the server accept only connections secured by c (from
// NewServerTLS, or credentials.NewTLS over a tls.Config of your own) and announce its
// endpoint with the scheme "grpcs", so that plaintext consumers leave it alone.
func WithServerCredentials(c credentials.TransportCredentials) ServerOption {
	return func(o *serverOptions) { o.creds = c }
}

// isSecure reports whether c protects what it carries; grpc's insecure credentials say
// "insecure", everything else (tls, alts, local over a unix socket) is treated as secure.
func isSecure(c credentials.TransportCredentials) bool {
	return c != nil && c.Info().SecurityProtocol != "insecure"
}

// serverScheme is the scheme of the endpoint a server with credentials c announces.
func serverScheme(c credentials.TransportCredentials) string {
	if isSecure(c) {
		return SchemeTLS
	}
	return SchemePlaintext
}

// endpointSchemes applies the rules in the comment at the top of this file to the schemes
// given with WithEndpointSchemes (nil when not given).
func endpointSchemes(c credentials.TransportCredentials, given []string) ([]string, error) {
	if len(given) == 0 {
		return []string{serverScheme(c)}, nil
	}
	if !isSecure(c) && slices.Contains(given, SchemeTLS) {
		return nil, fmt.Errorf("%w: endpoint scheme %q requires TLS; pass rpc.WithTransportCredentials(rpc.NewClientTLS(...))", ErrInsecureEndpoint, SchemeTLS)
	}
	return given, nil
}

// reloadingTLS is TransportCredentials whose tls.Config is rebuilt from files when they
// change. Each handshake delegates to grpc's own TLS credentials over the current config, so
// ALPN, authority checks and AuthInfo are grpc's.
type reloadingTLS struct {
	files  TLSFiles
	server bool
	protos []string // ALPN protocols of cfg; nil for gRPC, whose credentials add "h2"

	mu      sync.Mutex
	stamp   []fileStamp // of CertFile, KeyFile, CAFile, when last loaded
	current credentials.TransportCredentials
	cfg     *tls.Config // what current was built from, never changed once built
}

// fileStamp identifies a version of a file cheaply; a stat per handshake costs microseconds
// against the milliseconds of the handshake itself.
type fileStamp struct {
	mod  time.Time
	size int64
}

func newReloadingTLS(files TLSFiles, server bool) (*reloadingTLS, error) {
	r := &reloadingTLS{files: files, server: server}
	if err := r.reload(r.stamps()); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *reloadingTLS) stamps() []fileStamp {
	out := make([]fileStamp, 3)
	for i, p := range []string{r.files.CertFile, r.files.KeyFile, r.files.CAFile} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			out[i] = fileStamp{st.ModTime(), st.Size()}
		}
	}
	return out
}

// creds returns the credentials for the next handshake, reloading the files first if any
// changed. A failed reload keeps the last good credentials and is retried at the next
// handshake.
func (r *reloadingTLS) creds() credentials.TransportCredentials {
	now := r.stamps()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(now, r.stamp) {
		_ = r.reloadLocked(now)
	}
	return r.current
}

func (r *reloadingTLS) reload(now []fileStamp) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(now)
}

func (r *reloadingTLS) reloadLocked(now []fileStamp) error {
	f := r.files
	cfg := &tls.Config{MinVersion: f.MinVersion, ServerName: f.ServerName, NextProtos: r.protos}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if f.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return fmt.Errorf("%w: certificate %s with key %s: %w", ErrInvalidTLS, f.CertFile, f.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return fmt.Errorf("%w: CA file: %w", ErrInvalidTLS, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidTLS, f.CAFile)
		}
		if r.server {
			cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
		} else {
			cfg.RootCAs = pool
		}
	}
	r.stamp, r.current, r.cfg = now, credentials.NewTLS(cfg), cfg
	return nil
}

func (r *reloadingTLS) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.creds().ClientHandshake(ctx, authority, raw)
}

func (r *reloadingTLS) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return r.creds().ServerHandshake(raw)
}

func (r *reloadingTLS) Info() credentials.ProtocolInfo { return r.creds().Info() }

// Clone returns credentials over the same files; they reload independently.
func (r *reloadingTLS) Clone() credentials.TransportCredentials {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &reloadingTLS{files: r.files, server: r.server, protos: r.protos, stamp: slices.Clone(r.stamp),
		current: r.current.Clone(), cfg: r.cfg}
}

// OverrideServerName is deprecated in grpc and kept for the interface; set
// TLSFiles.ServerName instead.
func (r *reloadingTLS) OverrideServerName(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files.ServerName = name
	r.stamp = nil // rebuild with the new name at the next handshake
	return nil
}
