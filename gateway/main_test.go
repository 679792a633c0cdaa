package gateway_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Upstream transports, config watchers and test servers stop every goroutine on Close.
	goleak.VerifyTestMain(m)
}
