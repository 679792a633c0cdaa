// Package chaos holds only tests: rolling restarts under steady load and fault injection
// (provider SIGKILL, registry server killed, restarted and paused past its lease TTL) across
// real processes and real registry servers. Each test states the bound it holds the system
// to and logs what it measured in a line starting with "RESULT"; docs/reliability.md
// collects those figures.
//
// Run them with:
//
//	go test -race -count=1 -v -run . ./internal/chaos/ | grep -E 'RESULT|^(---|ok|FAIL)'
//
// The test binary doubles as the provider processes: TestMain serves an echo provider when
// CHAOS_PROVIDER_ID is set.
package chaos
