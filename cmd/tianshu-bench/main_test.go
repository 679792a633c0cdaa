package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A tiny run of every set-up proves each one builds, serves calls without error and
// reports a ratio; the figures themselves come from full runs on a quiet machine.
func TestEverySetupServesCallsAndIsReported(t *testing.T) {
	var out bytes.Buffer
	all := append(append([]string{}, setupNames...), referenceNames...)
	cfg := runConfig{setups: all, payloads: []int{128}, concurrency: []int{4}, warmup: 20 * time.Millisecond, round: 100 * time.Millisecond, rounds: 1}
	if err := run(context.Background(), &out, io.Discard, cfg); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, name := range all {
		if !strings.Contains(text, name) {
			t.Errorf("report lacks set-up %s:\n%s", name, text)
		}
	}
	if !strings.Contains(text, "QPS ratio") {
		t.Errorf("report lacks the ratio table:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 11 && f[0] != "setup" && f[10] != "0" {
			t.Errorf("calls failed: %s", line)
		}
	}
}
