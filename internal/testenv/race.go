package testenv

import "testing"

// NoRaceCommand runs the tests that a dependency's own data race keeps out of -race runs.
const NoRaceCommand = "bash scripts/test.sh (its no-race pass)"

// SkipUnderRaceLocally skips a test that makes a dependency hit a data race of its own
// (why names it) when the race detector is on, outside CI. In CI it does nothing: the race
// pass of scripts/test.sh leaves such tests out by name and its no-race pass runs them, so a
// test that reaches this under -race in CI is missing from that list, and runs rather than
// hides.
func SkipUnderRaceLocally(t testing.TB, why string) {
	t.Helper()
	if RaceDetector && !InCI() {
		t.Skip(why + "; run this test without -race, as " + NoRaceCommand + " does")
	}
}
