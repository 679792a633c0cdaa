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
		// The file registry checks its providers' process IDs at each poll (500 ms).
		providerKill(t, c, "file", 5*time.Second)
	})
}
