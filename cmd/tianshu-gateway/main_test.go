package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// run stops its servers, watchers and registry before it returns.
	goleak.VerifyTestMain(m)
}
