package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry/file"
)

func TestFileRegistry(t *testing.T) {
	dir := t.TempDir()
	reg, err := file.New(context.Background(), dir, file.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	c := newCluster(t, []string{"CHAOS_FILE_DIR=" + dir}, reg)

	t.Run("RollingRestartOfEachProviderUnder500CallsPerSecondFailsNoCall", func(t *testing.T) {
		rollingRestart(t, c, "file", 20*time.Second)
	})
	t.Run("ProviderSIGKILLFailsOnlyInFlightCallsAndHealsByItself", func(t *testing.T) {
		// The file registry's documented bound on its own host is one poll interval; the
		// consumer here reads with GetService, which checks the process at once. Three
		// intervals leave room for a loaded machine and still fail a registry that falls
		// back to the TTL.
		providerKill(t, c, "file", 3*file.DefaultPollInterval)
	})
}
