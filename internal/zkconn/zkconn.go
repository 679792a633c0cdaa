// Package zkconn holds what registry/zookeeper and config/zookeeper share: the session a
// Registry keeps, as a config source reads through it, the sentinel errors, and the rules
// for node paths and errors. It lives apart from both so that the registry package can keep
// deprecated aliases of the config package's names without an import cycle.
package zkconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/registry"
)

// Errors of the ZooKeeper packages; registry/zookeeper and config/zookeeper export them
// under their own names, so errors.Is matches across both.
var (
	ErrInvalidConfig = errors.New("zookeeper: invalid configuration")
	ErrNoAuth        = errors.New("zookeeper: not authorized")
)

// Session is a ZooKeeper session that its owner (a registry/zookeeper Registry) keeps alive:
// credentials, reconnection and session expiry are handled there, once for the registry and
// every config source that shares it.
type Session struct {
	Conn *zk.Conn
	// ACL is given to the nodes a source creates.
	ACL []zk.ACL
	// User is the digest user, or "", for error messages.
	User string
	Log  *slog.Logger
	// Closed is closed when the owner is closed; the session is then gone for good.
	Closed <-chan struct{}
	// WaitReady waits for an authenticated session, at most until ctx is done or the
	// session timeout passed.
	WaitReady func(ctx context.Context) error
	// EnsureParents creates a node and its ancestors as persistent nodes where missing.
	EnsureParents func(path string) error
}

// IsClosed reports whether the owner has been closed.
func (s *Session) IsClosed() bool {
	select {
	case <-s.Closed:
		return true
	default:
		return false
	}
}

// WrapErr turns a go-zookeeper error about path into one of the sentinel errors (ErrNoAuth,
// registry.ErrUnavailable), keeping the original in the chain; user is the digest user, or
// "" when none was given.
func WrapErr(op, path, user string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNoAuth):
		if user == "" {
			return fmt.Errorf("zookeeper: %s %s: %w: the node's ACL requires credentials and none were given (WithAuth, or user and password in the URL): %w", op, path, ErrNoAuth, err)
		}
		return fmt.Errorf("zookeeper: %s %s: %w: user %q is not allowed by the node's ACL (wrong password?): %w", op, path, ErrNoAuth, user, err)
	case errors.Is(err, registry.ErrClosed), errors.Is(err, registry.ErrUnavailable):
		return fmt.Errorf("zookeeper: %s %s: %w", op, path, err)
	default:
		return fmt.Errorf("zookeeper: %s %s: %w: %w", op, path, registry.ErrUnavailable, err)
	}
}

// CheckPath reports a path ZooKeeper would refuse, or that has an empty segment.
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.HasSuffix(p, "/") {
		return errors.New("want an absolute path such as /tianshu, without a trailing slash")
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("segment %q is not a node name", seg)
		}
		for _, c := range seg {
			if c <= 0x1f || c >= 0x7f && c <= 0x9f || c >= 0xd800 && c <= 0xf8ff || c >= 0xfff0 {
				return fmt.Errorf("segment %q has the character %q, which ZooKeeper refuses", seg, c)
			}
		}
	}
	return nil
}
