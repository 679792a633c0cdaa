package nacos_test

import (
	"testing"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestListServices(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	registrytest.RunServiceLister(t, func(t testing.TB) registry.Registry {
		return open(t, srv, dir, nacos.WithNamespace("list"))
	}, 0)
}
