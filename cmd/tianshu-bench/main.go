// Command tianshu-bench measures what Tianshu costs on top of bare grpc-go, in one process
// run and one report: an echo service (protobuf unary) called by closed-loop workers, with
// the client and two server instances in this process, as DEPENDENCIES.md's figures were
// taken.
//
//	go run ./cmd/tianshu-bench                      # the full matrix, about 7 minutes
//	go run ./cmd/tianshu-bench -setups bare,full -payloads 1024 -concurrency 100
//
// Set-ups:
//
//	bare       grpc.NewClient + round_robin over a manual resolver, plain grpc.NewServer
//	discovery  rpc.Dial (registry resolver, P2C) and rpc.NewServer (health, recovery),
//	           telemetry off
//	breaker    discovery + a per-method adaptive breaker interceptor
//	metrics    discovery + Tianshu's telemetry interceptors, metrics recorded into an SDK
//	           meter provider, tracing off
//	tracing    discovery + telemetry, tracing sampled at 1%, metrics to a no-op meter
//	full       discovery + breaker + metrics + tracing at 1%
//
// Reference set-ups, run only when named in -setups:
//
//	bare-again a second bare stack: its ratio to bare is the method's noise
//	w3c-header bare + a traceparent with a new span ID per call, sent and read, no tracing:
//	           the floor under any W3C propagation through grpc-go
//	otelgrpc   bare + otelgrpc's stats handlers, 1% sampling, SDK metrics
//	telemetry-noop
//	           discovery + Tianshu's telemetry interceptors over no-op tracer and meter
//	           providers: the interceptors' own work, without the OpenTelemetry SDKs
//	telemetry-defaults
//	           discovery + the telemetry interceptors as rpc installs them by default, on
//	           OpenTelemetry's global providers and propagator before any Setup: what a
//	           service pays for telemetry it has not turned on
//	minimum    full's features written as plainly as they can be (see minimum.go): discovery,
//	           P2C and the breaker as in full, and two interceptors that only draw IDs,
//	           decide the 1%, send and parse one traceparent and record two durations
//	w3c-header-workers
//	           w3c-header on servers with as many stream workers as rpc.NewServer keeps:
//	           the floor to read full's telemetry against with the servers' goroutine
//	           reuse on both sides
//	cpu-4us    bare + interceptors that spend 2 µs of busy CPU on each side (4 µs a call)
//	alloc-2KiB bare + interceptors that allocate four 256-B objects on each side
//
// The last two are calibrations: a known cost, to read the others' ratios against.
// -baseline pairs and divides by another set-up than bare: -baseline w3c-header reads
// Tianshu's cost above the floor of W3C propagation.
//
// For each set-up, payload and concurrency it runs a warm-up and several rounds and prints
// QPS, p50/p99/p999 latency, and per call the process's CPU time, allocations, bytes
// allocated and read/write system calls (medians over rounds), and the ratios to bare in
// the same run: each round of a set-up is paired with a bare round run just before or after
// it (the order flipping every round), and the median of the pairs' ratios is reported with
// the lowest and highest, so that the machine's bursts of load move single pairs rather
// than the result. With -cpuprofile, every goroutine of a set-up runs under the pprof label
// setup=<name>, so one paired run's profile splits by set-up:
//
//	go tool pprof -tagfocus 'setup=full$' -top tianshu-bench cpu.out
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	setups := flag.String("setups", strings.Join(setupNames, ","), "comma-separated set-ups to run")
	payloads := flag.String("payloads", "128,1024", "comma-separated payload sizes in bytes")
	conc := flag.String("concurrency", "1,16,100", "comma-separated numbers of closed-loop workers")
	warmup := flag.Duration("warmup", time.Second, "warm-up before the rounds of each cell")
	round := flag.Duration("round", 2*time.Second, "length of one measured round")
	rounds := flag.Int("rounds", 3, "measured rounds per cell; medians are reported")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	baseline := flag.String("baseline", "bare", "the set-up every other is paired with and divided by; added to -setups if missing (-baseline w3c-header: the cost above the propagation floor)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tianshu-bench:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}

	cfg := runConfig{warmup: *warmup, round: *round, rounds: *rounds, baseline: *baseline}
	var err error
	if cfg.setups, err = parseSetups(*setups, *baseline); err == nil {
		if cfg.payloads, err = parseInts("payloads", *payloads); err == nil {
			cfg.concurrency, err = parseInts("concurrency", *conc)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tianshu-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "tianshu-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func parseInts(what, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive number", what, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSetups reads -setups, putting baseline first when the list leaves it out.
func parseSetups(s, baseline string) ([]string, error) {
	known := func() string { return strings.Join(allSetupNames(), ", ") }
	if _, ok := setupByName[baseline]; !ok {
		return nil, fmt.Errorf("-baseline: unknown set-up %q (known: %s)", baseline, known())
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if _, ok := setupByName[f]; !ok {
			return nil, fmt.Errorf("-setups: unknown set-up %q (known: %s)", f, known())
		}
		out = append(out, f)
	}
	if !slices.Contains(out, baseline) {
		out = append([]string{baseline}, out...)
	}
	return out, nil
}
