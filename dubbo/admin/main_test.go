package admin_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// zkServer is the ZooKeeper shared by the tests.
var zkServer testenv.SharedZooKeeper

func TestMain(m *testing.M) {
	code := m.Run()
	zkServer.Stop()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}
