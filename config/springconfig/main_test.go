package springconfig_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// springServers is the Config Server (with Eureka, unused here) that the tests share: one JVM
// for the package, started by the first test that needs it.
var springServers testenv.SharedSpringServers

func TestMain(m *testing.M) {
	code := m.Run()
	springServers.Stop()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}
