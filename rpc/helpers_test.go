package rpc_test

import (
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tianshu-go/tianshu/registry/memory"
)

// newRegistry returns an in-process registry closed after every other cleanup of the test,
// so that providers can deregister from it.
func newRegistry(t testing.TB) *memory.Registry {
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	return reg
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
