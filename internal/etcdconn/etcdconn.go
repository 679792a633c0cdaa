// Package etcdconn holds what registry/etcd and config/etcd share: the sentinel errors and
// how an etcd client's errors map onto them. It lives apart from both so that the registry
// package can keep deprecated aliases of the config package's names without an import cycle.
package etcdconn

import (
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/tianshu-go/tianshu/registry"
)

// Errors of the etcd packages; registry/etcd and config/etcd export them under their own
// names, so errors.Is matches across both.
var (
	ErrInvalidConfig = errors.New("etcd: invalid configuration")
	ErrAuth          = errors.New("etcd: authentication or permission refused")
)

// Classify wraps an etcd client error met while doing what: refused credentials or
// permissions wrap ErrAuth, anything else registry.ErrUnavailable, with a hint where the
// message tells a TLS mismatch.
func Classify(what string, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrInvalidAuthToken):
		return fmt.Errorf("etcd: %s: %w (check the user name and password): %w", what, ErrAuth, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("etcd: %s: %w (the user needs read and write permission on the prefix): %w", what, ErrAuth, err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "speaks TLS"):
		return fmt.Errorf("etcd: %s: %w: %w", what, registry.ErrUnavailable, err)
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") || strings.Contains(msg, "handshake"):
		return fmt.Errorf("etcd: %s: %w (TLS failed: check the CA, the server name and whether the server speaks TLS): %w", what, registry.ErrUnavailable, err)
	case strings.Contains(msg, "server preface"):
		return fmt.Errorf("etcd: %s: %w (the connection closed at once: does the server expect TLS?): %w", what, registry.ErrUnavailable, err)
	}
	return fmt.Errorf("etcd: %s: %w: %w", what, registry.ErrUnavailable, err)
}
