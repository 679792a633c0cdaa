package rules_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Watch's config, its watchers and the etcd client stop every goroutine on Close.
	goleak.VerifyTestMain(m)
}
