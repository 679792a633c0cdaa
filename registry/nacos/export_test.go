package nacos

import (
	"log/slog"

	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"

	"github.com/tianshu-go/tianshu/internal/nacosconn"
)

// SharedClients returns how many SDK naming and config clients the process holds open.
func SharedClients() (namingClients, configClients int) {
	nacosconn.Lock()
	n := len(naming)
	nacosconn.Unlock()
	return n, nacosconn.ConfigClients()
}

// QuietSDKFileLog sets up the file logger of a bare SDK client made by a test as Tianshu's
// clients have it: it writes nothing, so that it starts no log rotator.
func QuietSDKFileLog(cc *constant.ClientConfig) {
	cc.LogLevel = "error"
	cc.LogRollingConfig = &constant.ClientLogRollingConfig{MaxSize: -1}
}

// UseSDKLogger replaces the SDK's process-wide logger, as Tianshu does after making a client.
func UseSDKLogger(log *slog.Logger) { nacosconn.InstallSDKLogger(log, "warn") }

// PushListeners and StopPushReceiver find and stop the UDP push receivers of bare SDK naming
// clients made by tests.
var (
	PushListeners    = pushListeners
	StopPushReceiver = stopPushReceiver
)
