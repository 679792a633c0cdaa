package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/tianshu-go/tianshu/internal/pairbench"
	"github.com/tianshu-go/tianshu/internal/testpb"
)

type runConfig struct {
	setups      []string
	payloads    []int
	concurrency []int
	warmup      time.Duration
	round       time.Duration
	rounds      int
	// baseline is the set-up every other is paired with and divided by: bare unless set.
	baseline string
}

// cell names one measurement of the matrix.
type cell struct {
	setup       string
	payload     int
	concurrency int
}

// result holds the medians over a cell's rounds.
type result struct {
	qps            float64
	p50, p99, p999 time.Duration
	cpuPerCall     time.Duration
	allocsPerCall  float64
	bytesPerCall   float64
	sysPerCall     float64 // read and write system calls per call; 0 where the system cannot say
	errors         int64
	calls          int64
}

// ratios holds one set-up's paired rounds against the baseline: each the set-up's figure
// over the figure of the baseline's round run beside it.
type ratios struct{ qps, p99, cpu []float64 }

func (r *ratios) add(x, base result) {
	r.qps = append(r.qps, x.qps/base.qps)
	r.p99 = append(r.p99, float64(x.p99)/float64(base.p99))
	r.cpu = append(r.cpu, float64(x.cpuPerCall)/float64(base.cpuPerCall))
}

// asSetup runs f with the pprof label setup=name, which every goroutine f starts inherits
// (a set-up's servers, connections and workers), so a -cpuprofile of a paired run splits by
// set-up: go tool pprof -tagfocus 'setup=full$'.
func asSetup(ctx context.Context, name string, f func(context.Context)) {
	pprof.Do(ctx, pprof.Labels("setup", name), f)
}

func run(ctx context.Context, out, progress io.Writer, cfg runConfig) error {
	base := cfg.baseline
	if base == "" {
		base = "bare"
	}
	paired := slices.Contains(cfg.setups, base) && len(cfg.setups) > 1
	how := "set-ups interleaved round by round"
	if paired {
		how = "each round of a set-up paired with a " + base + " round beside it, the order flipping every round; ratios are medians over the pairs"
	}
	fmt.Fprintf(out, "tianshu-bench: %s, GOMAXPROCS=%d, %d echo servers in-process per set-up; warm-up %v, %d rounds of %v per cell (medians); %s\n\n",
		runtime.Version(), runtime.GOMAXPROCS(0), instances, cfg.warmup, cfg.rounds, cfg.round, how)
	// Every set-up is built first and the rounds of a cell alternate between them, so that
	// the machine's noise (these VMs are shared) falls on all of them alike. A ratio to the
	// baseline is taken per pair of adjacent rounds and the median kept: a burst of load from
	// elsewhere moves one pair, where it would move a ratio of medians taken minutes apart.
	stacks := map[string]*stack{}
	defer func() {
		for _, st := range stacks {
			st.close()
		}
	}()
	for _, name := range cfg.setups {
		var err error
		asSetup(ctx, name, func(ctx context.Context) {
			stacks[name], err = setupByName[name](ctx)
		})
		if err != nil {
			return fmt.Errorf("set-up %s: %w", name, err)
		}
	}
	results := map[cell]result{}
	pairs := map[cell]*ratios{}
	for _, p := range cfg.payloads {
		for _, c := range cfg.concurrency {
			fmt.Fprintf(progress, "measuring %d B at concurrency %d...\n", p, c)
			req := &testpb.EchoRequest{Payload: make([]byte, p)}
			rounds := map[string][]result{}
			measure := func(name string) result {
				var r result
				asSetup(ctx, name, func(ctx context.Context) {
					r = measureRound(ctx, stacks[name].client, req, c, cfg.round)
				})
				rounds[name] = append(rounds[name], r)
				return r
			}
			for _, name := range cfg.setups {
				asSetup(ctx, name, func(ctx context.Context) {
					load(ctx, stacks[name].client, req, c, cfg.warmup)
				})
			}
			for i := range cfg.rounds {
				for _, name := range cfg.setups {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					switch {
					case !paired:
						measure(name)
					case name != base: // the baseline's rounds run beside the others'
						k := cell{name, p, c}
						if pairs[k] == nil {
							pairs[k] = &ratios{}
						}
						var x, b result
						if i%2 == 0 {
							b, x = measure(base), measure(name)
						} else {
							x, b = measure(name), measure(base)
						}
						pairs[k].add(x, b)
					}
				}
			}
			for _, name := range cfg.setups {
				results[cell{name, p, c}] = medians(rounds[name])
			}
		}
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup\tpayload\tconc\tQPS\tp50\tp99\tp999\tCPU/call\tallocs/call\tB/call\tsyscalls/call\terrors\t")
	for _, name := range cfg.setups {
		for _, p := range cfg.payloads {
			for _, c := range cfg.concurrency {
				r := results[cell{name, p, c}]
				fmt.Fprintf(tw, "%s\t%d B\t%d\t%.0f\t%v\t%v\t%v\t%v\t%.1f\t%.0f\t%.2f\t%d\t\n", name, p, c, r.qps,
					r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.p999.Round(time.Microsecond),
					r.cpuPerCall.Round(100*time.Nanosecond), r.allocsPerCall, r.bytesPerCall, r.sysPerCall, r.errors)
			}
		}
	}
	_ = tw.Flush()
	if !paired {
		return nil
	}
	against := base
	if base == "bare" {
		against = "bare grpc-go"
	}
	fmt.Fprintf(out, "\nRatios to %s in this run, medians over paired rounds (QPS: higher is better, 1.00 = no cost; p99 and CPU: lower is better; QPS range: lowest and highest pair):\n", against)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setup\tpayload\tconc\tQPS ratio\tQPS range\tp99 ratio\tCPU/call ratio\t")
	for _, name := range cfg.setups {
		if name == base {
			continue
		}
		for _, p := range cfg.payloads {
			for _, c := range cfg.concurrency {
				r := pairs[cell{name, p, c}]
				lo, hi := slices.Min(r.qps), slices.Max(r.qps)
				// Three places: a target such as 0.97 must not be met by rounding.
				fmt.Fprintf(tw, "%s\t%d B\t%d\t%.3f\t%.2f-%.2f\t%.3f\t%.3f\t\n", name, p, c,
					median(r.qps), lo, hi, median(r.p99), median(r.cpu))
			}
		}
	}
	return tw.Flush()
}

// measureRound runs one round of closed-loop load and measures it.
func measureRound(ctx context.Context, client testpb.EchoClient, req *testpb.EchoRequest, conc int, d time.Duration) result {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, sys0 := pairbench.CPUTime(), pairbench.Syscalls()
	lats, calls, errs, elapsed := load(ctx, client, req, conc, d)
	cpu, sys := pairbench.CPUTime()-cpu0, pairbench.Syscalls()-sys0
	runtime.ReadMemStats(&after)
	slices.Sort(lats)
	r := result{calls: calls, errors: errs, qps: float64(calls) / elapsed.Seconds()}
	if len(lats) > 0 {
		r.p50, r.p99, r.p999 = quantile(lats, 0.5), quantile(lats, 0.99), quantile(lats, 0.999)
	}
	if calls > 0 {
		r.cpuPerCall = cpu / time.Duration(calls)
		r.allocsPerCall = float64(after.Mallocs-before.Mallocs) / float64(calls)
		r.bytesPerCall = float64(after.TotalAlloc-before.TotalAlloc) / float64(calls)
		r.sysPerCall = float64(sys) / float64(calls)
	}
	return r
}

// load runs conc workers, each calling in a loop, for d; it returns every call's latency.
func load(ctx context.Context, client testpb.EchoClient, req *testpb.EchoRequest, conc int, d time.Duration) ([]time.Duration, int64, int64, time.Duration) {
	var errs atomic.Int64
	per := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			lats := make([]time.Duration, 0, 4096)
			for {
				t0 := time.Now()
				if t0.After(deadline) || ctx.Err() != nil {
					break
				}
				if _, err := client.Echo(ctx, req); err != nil {
					errs.Add(1)
					continue
				}
				lats = append(lats, time.Since(t0))
			}
			per[w] = lats
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range per {
		all = append(all, l...)
	}
	return all, int64(len(all)), errs.Load(), elapsed
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

// median returns the median of v (the upper one of an even count), sorting v.
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func medians(rs []result) result {
	med := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	var out result
	out.qps = med(func(r result) float64 { return r.qps })
	out.p50 = time.Duration(med(func(r result) float64 { return float64(r.p50) }))
	out.p99 = time.Duration(med(func(r result) float64 { return float64(r.p99) }))
	out.p999 = time.Duration(med(func(r result) float64 { return float64(r.p999) }))
	out.cpuPerCall = time.Duration(med(func(r result) float64 { return float64(r.cpuPerCall) }))
	out.allocsPerCall = med(func(r result) float64 { return r.allocsPerCall })
	out.bytesPerCall = med(func(r result) float64 { return r.bytesPerCall })
	out.sysPerCall = med(func(r result) float64 { return r.sysPerCall })
	for _, r := range rs {
		out.errors += r.errors
		out.calls += r.calls
	}
	return out
}
