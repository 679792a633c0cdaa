package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/internal/backoff"
	"github.com/tianshu-go/tianshu/internal/etcdconn"
)

// Errors of this package, wrapped with details; test for them with errors.Is. Trouble
// reaching the server wraps registry.ErrUnavailable instead.
var (
	// ErrInvalidConfig: an option or URL parameter that cannot work (no endpoint, a TTL
	// under a second, a TLS file that cannot be read).
	ErrInvalidConfig = etcdconn.ErrInvalidConfig
	// ErrAuth: the server refused the credentials (wrong user name or password, auth
	// enabled but no credentials given) or the user lacks permission on the prefix.
	ErrAuth = etcdconn.ErrAuth
)

// Defaults of the options.
const (
	// DefaultPrefix is the key prefix under which instances are stored.
	DefaultPrefix = "/tianshu/services"
	// DefaultTTL is the lease TTL: how long a crashed provider stays listed.
	DefaultTTL = 10 * time.Second
	// DefaultDialTimeout bounds connecting at start and each background request.
	DefaultDialTimeout = 5 * time.Second
)

// Option configures a Registry, or the client Dial makes.
type Option func(*options)

type options struct {
	prefix      string
	ttl         time.Duration
	dialTimeout time.Duration
	username    string
	password    string
	tls         *tls.Config
	tlsFiles    *tlsFiles
	retry       backoff.Policy
	log         *slog.Logger
	lazy        bool
}

type tlsFiles struct{ ca, cert, key, serverName string }

// WithPrefix sets the key prefix of the registry (default DefaultPrefix). Registries that
// should see each other must use the same prefix; a trailing slash is ignored.
func WithPrefix(p string) Option { return func(o *options) { o.prefix = p } }

// WithTTL sets the TTL of the lease that keeps this Registry's instances alive, in whole
// seconds (rounded up). It bounds how long a provider that died without Close stays listed.
// Keep-alives go out every third of it.
func WithTTL(d time.Duration) Option { return func(o *options) { o.ttl = d } }

// WithDialTimeout bounds each request the Registry makes in the background (lease renewal,
// re-registration), a Register while the connection is down, and how long Dial
// waits for the server. New itself waits at most about a second for a first answer.
func WithDialTimeout(d time.Duration) Option { return func(o *options) { o.dialTimeout = d } }

// WithAuth logs in with an etcd user name and password. A wrong pair makes New fail with an
// error wrapping ErrAuth.
func WithAuth(username, password string) Option {
	return func(o *options) { o.username, o.password = username, password }
}

// WithTLS connects over TLS with the given configuration (RootCAs for a private CA,
// Certificates for client-certificate authentication).
func WithTLS(c *tls.Config) Option { return func(o *options) { o.tls = c } }

// WithTLSFiles connects over TLS with PEM files: caFile verifies the server (empty: the
// system roots), certFile and keyFile (both or neither) authenticate the client. A file that
// cannot be read or parsed makes New fail with an error wrapping ErrInvalidConfig that names
// it.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return func(o *options) {
		if o.tlsFiles == nil {
			o.tlsFiles = &tlsFiles{}
		}
		o.tlsFiles.ca, o.tlsFiles.cert, o.tlsFiles.key = caFile, certFile, keyFile
	}
}

// WithRetry sets the capped exponential backoff (with jitter) between attempts to recover a
// lost lease or watch; the default is 100 ms doubling up to 10 s. Recovery never gives up.
func WithRetry(base, max time.Duration) Option {
	return func(o *options) { o.retry = backoff.Policy{Base: base, Max: max} }
}

// WithLazyConnect makes New return at once without reading the prefix. Without it, New
// waits up to about a second for the server, so that refused credentials and TLS mismatches
// are New's errors, and then returns a Registry that connects in the background anyway; with
// it, those problems surface as errors of the first calls and watches instead.
func WithLazyConnect() Option { return func(o *options) { o.lazy = true } }

// WithLogger sets the logger for recoveries, skipped entries and the etcd client's own
// messages (its errors at Warn, the rest at Debug); the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

func newOptions(opts []Option) (options, error) {
	o := options{
		prefix:      DefaultPrefix,
		ttl:         DefaultTTL,
		dialTimeout: DefaultDialTimeout,
		retry:       backoff.Default,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.prefix = strings.TrimRight(o.prefix, "/")
	switch {
	case o.ttl < time.Second:
		return o, fmt.Errorf("%w: lease TTL %v is under the 1 s etcd can grant (5 s or more is safe)", ErrInvalidConfig, o.ttl)
	case o.dialTimeout <= 0:
		return o, fmt.Errorf("%w: dial timeout %v must be positive", ErrInvalidConfig, o.dialTimeout)
	case o.retry.Base <= 0 || o.retry.Max < o.retry.Base:
		return o, fmt.Errorf("%w: retry backoff %v..%v must be positive and increasing", ErrInvalidConfig, o.retry.Base, o.retry.Max)
	case (o.username == "") != (o.password == ""):
		return o, fmt.Errorf("%w: user name and password must be given together", ErrInvalidConfig)
	case o.tls != nil && o.tlsFiles != nil:
		return o, fmt.Errorf("%w: give WithTLS or WithTLSFiles, not both", ErrInvalidConfig)
	}
	if o.tlsFiles != nil {
		c, err := o.tlsFiles.load()
		if err != nil {
			return o, err
		}
		o.tls = c
	}
	return o, nil
}

// ttlSeconds returns the TTL in whole seconds, rounded up, as etcd grants it.
func (o *options) ttlSeconds() int64 {
	return int64((o.ttl + time.Second - 1) / time.Second)
}

func (f *tlsFiles) load() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.serverName}
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS CA file: %w", ErrInvalidConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA file %s holds no PEM certificate", ErrInvalidConfig, f.ca)
		}
		c.RootCAs = pool
	}
	if (f.cert == "") != (f.key == "") {
		return nil, fmt.Errorf("%w: TLS client certificate and key files must be given together (got cert %q, key %q)", ErrInvalidConfig, f.cert, f.key)
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS client certificate %s and key %s: %w", ErrInvalidConfig, f.cert, f.key, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
