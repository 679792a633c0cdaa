package interop_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// zkServer is the ZooKeeper the ZooKeeper scenarios share: one JVM less to start.
var zkServer testenv.SharedZooKeeper

func TestMain(m *testing.M) {
	code := m.Run()
	zkServer.Stop()
	// The Spring peer first: it leaves Eureka, which the servers' JVM runs.
	springPeer.Stop()
	springServers.Stop()
	// nacos-sdk-go v2.3.2 leaves two goroutines behind after CloseClient: its file logger's
	// rotation loop, and its UDP push receiver, blocked reading a socket it never closes.
	// Nothing of Tianshu's may be left running.
	sdkLeaks := []goleak.Option{
		goleak.IgnoreAnyFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"),
		goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_http.(*PushReceiver).handleClient"),
	}
	if err := goleak.Find(sdkLeaks...); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}
