package nacos

import (
	"log/slog"

	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
)

// SharedClients returns how many SDK naming and config clients the process holds open.
func SharedClients() (naming, config int) {
	pool.Lock()
	defer pool.Unlock()
	return len(pool.naming), len(pool.config)
}

// QuietSDKFileLog sets up the file logger of a bare SDK client made by a test as Tianshu's
// clients have it: it writes nothing, so that it starts no log rotator.
func QuietSDKFileLog(cc *constant.ClientConfig) {
	cc.LogLevel = "error"
	cc.LogRollingConfig = &constant.ClientLogRollingConfig{MaxSize: -1}
}

// UseSDKLogger replaces the SDK's process-wide logger, as Tianshu does after making a client.
func UseSDKLogger(log *slog.Logger) { installSDKLogger(newSDKLogger(log, "warn")) }

// PushListeners and StopPushReceiver find and stop the UDP push receivers of bare SDK naming
// clients made by tests.
var (
	PushListeners    = pushListeners
	StopPushReceiver = stopPushReceiver
)
