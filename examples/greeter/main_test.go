package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"go.uber.org/goleak"
)

// The test binary doubles as the provider program: runDemo re-runs it with this variable.
func TestMain(m *testing.M) {
	if os.Getenv("GREETER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer collects output written from other goroutines.
type syncBuffer = testenv.Buffer

func TestDemoSpreadsCallsThenSurvivesAProviderKilledWithSIGKILL(t *testing.T) {
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := runDemo(ctx, &out, demoConfig{
		dir: t.TempDir(), calls: 30, interval: 150 * time.Millisecond,
		exe: os.Args[0], env: []string{"GREETER_TEST_MAIN=1"},
	})
	text := out.String()
	if err != nil {
		t.Fatalf("runDemo: %v\n%s", err, text)
	}
	before, after, found := strings.Cut(text, "killed provider-1 with SIGKILL")
	if !found {
		t.Fatalf("the demo never killed provider-1:\n%s", text)
	}
	for _, id := range []string{"provider-1", "provider-2"} {
		if !strings.Contains(before, "served by "+id) {
			t.Errorf("before the kill, no call was served by %s:\n%s", id, text)
		}
	}
	if strings.Contains(after, "served by provider-1") {
		t.Errorf("a call was served by provider-1 after it was killed:\n%s", text)
	}
	if !strings.Contains(after, "registry lists: [provider-2]") {
		t.Errorf("the registry never dropped the killed provider-1:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(after), "\n")
	var last []string
	for _, l := range lines {
		if strings.HasPrefix(l, "call ") {
			last = append(last, l)
		}
	}
	if len(last) < 5 {
		t.Fatalf("too few calls after the kill:\n%s", text)
	}
	for _, l := range last[len(last)-5:] {
		if !strings.Contains(l, "served by provider-2") {
			t.Errorf("late call not served by provider-2: %s\n%s", l, text)
		}
	}
	if !strings.Contains(text, "stopped provider-2") {
		t.Errorf("provider-2 was not stopped gracefully:\n%s", text)
	}
}
