package main

import (
	"bytes"
	"context"
	"io"
	"slices"
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
	all := allSetupNames()
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
	checkNoErrors(t, text)
}

// checkNoErrors fails t for every row of the figures table whose errors column (the last
// of 13 fields, the payload counting two: "128 B") is not 0, and when it finds no row, so
// that a change of columns cannot turn the check off unseen.
func checkNoErrors(t *testing.T, report string) {
	t.Helper()
	rows := 0
	for _, line := range strings.Split(report, "\n") {
		f := strings.Fields(line)
		if len(f) != 13 || f[2] != "B" {
			continue
		}
		rows++
		if f[12] != "0" {
			t.Errorf("calls failed: %s", line)
		}
	}
	if rows == 0 {
		t.Errorf("found no figures rows to check for errors in:\n%s", report)
	}
}

func TestBaselineOtherThanBare(t *testing.T) {
	var out bytes.Buffer
	cfg := runConfig{setups: []string{"w3c-header", "bare", "tracing"}, baseline: "w3c-header", payloads: []int{128},
		concurrency: []int{4}, warmup: 20 * time.Millisecond, round: 100 * time.Millisecond, rounds: 2}
	if err := run(context.Background(), &out, io.Discard, cfg); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "Ratios to w3c-header in this run") {
		t.Errorf("ratios are not against the baseline:\n%s", text)
	}
	ratios := text[strings.Index(text, "Ratios to"):]
	for _, name := range []string{"bare", "tracing"} {
		if !strings.Contains(ratios, name) {
			t.Errorf("ratio table lacks %s:\n%s", name, ratios)
		}
	}
	checkNoErrors(t, text)
}

func TestParseSetupsPutsTheBaselineFirst(t *testing.T) {
	got, err := parseSetups("full,tracing", "w3c-header")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"w3c-header", "full", "tracing"}; !slices.Equal(got, want) {
		t.Errorf("parseSetups = %v, want %v", got, want)
	}
	if _, err := parseSetups("full", "nosuch"); err == nil || !strings.Contains(err.Error(), "-baseline") {
		t.Errorf("unknown baseline: err = %v, want one naming -baseline", err)
	}
}
