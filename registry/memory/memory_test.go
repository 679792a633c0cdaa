package memory_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	root := memory.New()
	t.Cleanup(func() { _ = root.Close() })
	registrytest.Run(t, registrytest.Backend{
		Open: func(testing.TB) registry.Registry { return root.Share() },
	})
}
