package nacosconn

import (
	"context"
	"fmt"
	"log/slog"

	sdklog "github.com/nacos-group/nacos-sdk-go/v2/common/logger"
)

// sdkLogger takes the SDK's messages in place of its own file logger, whose log rotator
// (lumberjack v2.0.0) starts a goroutine on the first line written that nothing can stop.
// The SDK installs that file logger in every client's constructor; the pools replace
// it as soon as the constructor returns (quietSDKLog keeps the file
// logger from writing until then). The messages go to the Registry's or Source's logger at
// debug level, as go-zookeeper's do in the ZooKeeper backend: they repeat on every
// reconnection attempt.
type sdkLogger struct {
	log *slog.Logger
	min int // index in sdkLevels of the lowest level passed on
}

var sdkLevels = [...]string{"debug", "info", "warn", "error"}

func newSDKLogger(log *slog.Logger, level string) sdkLogger {
	l := sdkLogger{log: log, min: 2}
	for i, name := range sdkLevels {
		if name == level {
			l.min = i
		}
	}
	return l
}

// installSDKLogger makes the SDK's process-wide logger l. Like the SDK's own, it is the one
// of the client made last.
func installSDKLogger(l sdkLogger) { sdklog.SetLogger(l) }

// InstallSDKLogger makes the SDK's process-wide logger pass its messages at level (debug,
// info, warn, error) and above to log, at debug level. Call it right after making an SDK
// client, whose constructor installs the SDK's file logger.
func InstallSDKLogger(log *slog.Logger, level string) { installSDKLogger(newSDKLogger(log, level)) }

func (l sdkLogger) on(level int) bool {
	return level >= l.min && l.log.Enabled(context.Background(), slog.LevelDebug)
}

func (l sdkLogger) emit(level int, msg string) {
	l.log.Debug(msg, "from", "nacos-sdk", "sdk_level", sdkLevels[level])
}

func (l sdkLogger) print(level int, args []any) {
	if l.on(level) {
		l.emit(level, fmt.Sprint(args...))
	}
}

func (l sdkLogger) printf(level int, format string, args []any) {
	if l.on(level) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (l sdkLogger) Debug(args ...any)                 { l.print(0, args) }
func (l sdkLogger) Info(args ...any)                  { l.print(1, args) }
func (l sdkLogger) Warn(args ...any)                  { l.print(2, args) }
func (l sdkLogger) Error(args ...any)                 { l.print(3, args) }
func (l sdkLogger) Debugf(format string, args ...any) { l.printf(0, format, args) }
func (l sdkLogger) Infof(format string, args ...any)  { l.printf(1, format, args) }
func (l sdkLogger) Warnf(format string, args ...any)  { l.printf(2, format, args) }
func (l sdkLogger) Errorf(format string, args ...any) { l.printf(3, format, args) }
