package gateway_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envBareProxy); addr != "" {
		serveBareProxy(addr, os.Getenv(envUpstream)) // BenchmarkVsReverseProxy's baseline
		return
	}
	// Upstream transports, config watchers and test servers stop every goroutine on Close.
	goleak.VerifyTestMain(m)
}
