package loadbalance

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
)

func TestEveryBalancerServesAnEndpointsOnlyResolver(t *testing.T) {
	for _, name := range Names() {
		t.Run(name+" spreads calls over every endpoint", func(t *testing.T) {
			bs := startBackends(t, 3)
			eps := []resolver.Endpoint{endpointOf(bs[0], instance(1, "", "", "")),
				endpointOf(bs[1], instance(2, "", "", "")), endpointOf(bs[2], instance(3, "", "", ""))}
			c, _ := dial(t, ServiceConfig(name), eps)
			waitAllServed(t, c, bs)
			start := time.Now()
			for range 600 {
				must(t, emptyCall(context.Background(), c))
			}
			if name == P2C {
				// P2C may pass over an endpoint whose one measured call was slow (a GC
				// pause under -race) until its probe falls due: the promise is that no
				// endpoint waits longer than that, not that 600 quick calls reach all.
				for time.Since(start) < pick.DefaultProbeAfter+500*time.Millisecond {
					must(t, emptyCall(context.Background(), c))
				}
			}
			counts := callCounts(bs)
			if name == RoundRobin {
				// Smooth weighted round robin over weights 1:2:3 is exact per cycle of 6.
				if counts[0] != 100 || counts[1] != 200 || counts[2] != 300 {
					t.Errorf("calls %v, want [100 200 300]", counts)
				}
			}
			for i, n := range counts {
				if n == 0 && name != ConsistentHash {
					t.Errorf("backend %d got no call of 600: %v", i, counts)
				}
			}
		})
	}
}

func TestWeightChangeDoesNotReconnect(t *testing.T) {
	bs := startBackends(t, 2)
	c, r := dial(t, ServiceConfig(RoundRobin), []resolver.Endpoint{
		endpointOf(bs[0], instance(1, "", "", "")), endpointOf(bs[1], instance(1, "", "", ""))})
	waitAllServed(t, c, bs)

	r.UpdateState(resolver.State{Endpoints: []resolver.Endpoint{
		endpointOf(bs[0], instance(1, "", "", "")), endpointOf(bs[1], instance(9, "", "", ""))}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, b := range bs {
			b.calls.Store(0)
		}
		for range 100 {
			must(t, emptyCall(context.Background(), c))
		}
		if n := bs[1].calls.Load(); n == 90 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("weights 1:9 not applied within 20s: calls %v", callCounts(bs))
		}
	}
	for i, b := range bs {
		if n := b.accepts.Load(); n != 1 {
			t.Errorf("backend %d accepted %d connections, want 1: the weight change reconnected", i, n)
		}
	}
}

// TestP2CSendsLittleToASlowEndpoint: two callers, backends answering in 10ms, 10ms and 100ms.
// The slow one gets its share only until its first answer, then one probe a second.
func TestP2CSendsLittleToASlowEndpoint(t *testing.T) {
	bs := startBackends(t, 3)
	c, _ := dial(t, ServiceConfig(P2C), []resolver.Endpoint{
		endpointOf(bs[0], instance(0, "", "", "")), endpointOf(bs[1], instance(0, "", "", "")),
		endpointOf(bs[2], instance(0, "", "", ""))})
	waitAllServed(t, c, bs)
	for _, b := range bs[:2] {
		b.delay.Store(int64(10 * time.Millisecond))
	}
	bs[2].delay.Store(int64(100 * time.Millisecond))

	const workers, perWorker = 2, 150
	// Workers report their first failure here and stop: t.Fatal belongs to the test's own
	// goroutine.
	failed := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if err := emptyCall(context.Background(), c); err != nil {
					failed <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		t.Fatalf("a call failed: %v", err)
	}
	counts := callCounts(bs)
	if share := float64(counts[2]) / (workers * perWorker); share >= 0.10 {
		t.Errorf("the 10x slower endpoint got %.1f%% of calls, want under 10%% (calls %v)", share*100, counts)
	}
	t.Logf("calls %v", counts)
}

// TestKilledEndpoint: with 4 callers in flight, killing one of three backends fails at most
// the 4 calls it held (grpc picks again calls not yet sent), and none after.
func TestKilledEndpoint(t *testing.T) {
	for _, name := range []string{P2C, RoundRobin} {
		t.Run(name+" fails at most the calls in flight on a killed endpoint, then none", func(t *testing.T) {
			bs := startBackends(t, 3)
			c, _ := dial(t, ServiceConfig(name), []resolver.Endpoint{
				endpointOf(bs[0], instance(0, "", "", "")), endpointOf(bs[1], instance(0, "", "", "")),
				endpointOf(bs[2], instance(0, "", "", ""))})
			waitAllServed(t, c, bs)
			for _, b := range bs {
				b.delay.Store(int64(time.Millisecond))
			}
			const workers = 4
			var done, failed, failedLate atomic.Int64
			var killed atomic.Bool
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range 200 {
						err := emptyCall(context.Background(), c)
						n := done.Add(1)
						if err != nil {
							failed.Add(1)
							if n > 600 {
								failedLate.Add(1)
							}
						}
						if n == 200 && killed.CompareAndSwap(false, true) {
							bs[2].srv.Stop()
						}
					}
				})
			}
			wg.Wait()
			if f := failed.Load(); f > workers {
				t.Errorf("%d calls failed after the kill, want at most %d", f, workers)
			}
			if f := failedLate.Load(); f != 0 {
				t.Errorf("%d of the last 200 calls failed, want 0", f)
			}
			t.Logf("failed calls: %d", failed.Load())
		})
	}
}

func TestEjectsAnEndpointAnsweringUnavailable(t *testing.T) {
	bs := startBackends(t, 3)
	cfg := Config{EjectAfter: 2, EjectBase: Duration(time.Minute)}
	c, _ := dial(t, cfg.ServiceConfig(RoundRobin), []resolver.Endpoint{
		endpointOf(bs[0], instance(0, "", "", "")), endpointOf(bs[1], instance(0, "", "", "")),
		endpointOf(bs[2], instance(0, "", "", ""))})
	waitAllServed(t, c, bs)
	bs[1].fail.Store(int32(codes.Unavailable))
	failed := 0
	for range 300 {
		if err := emptyCall(context.Background(), c); err != nil {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d calls failed, want 2 (ejectAfter) before the endpoint was skipped", failed)
	}
}

func TestRouting(t *testing.T) {
	bs := startBackends(t, 4)
	eps := []resolver.Endpoint{
		endpointOf(bs[0], instance(0, "z1", "v1", "")),
		endpointOf(bs[1], instance(0, "z2", "v1", "")),
		endpointOf(bs[2], instance(0, "z2", "v1", "canary")),
		endpointOf(bs[3], instance(0, "z1", "v2", "")),
	}
	tests := []struct {
		name   string
		config Config
		ctx    func(context.Context) context.Context
		want   []int // backends that may serve
	}{
		{"an untagged call avoids canary instances", Config{}, nil, []int{0, 1, 3}},
		{"a call with WithTag(canary) goes to the canary instance", Config{},
			func(ctx context.Context) context.Context { return WithTag(ctx, "canary") }, []int{2}},
		{"a call with metadata x-tianshu-tag: canary goes to the canary instance", Config{},
			func(ctx context.Context) context.Context {
				return metadata.AppendToOutgoingContext(ctx, TagHeader, "canary")
			}, []int{2}},
		{"the caller's zone is preferred", Config{Zone: "z1"}, nil, []int{0, 3}},
		{"the version filter keeps one version", Config{Version: "v1"}, nil, []int{0, 1}},
		{"version and zone combine", Config{Version: "v1", Zone: "z2"}, nil, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := dial(t, tt.config.ServiceConfig(Random), eps)
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			// Until every allowed endpoint is ready a call falls back to the others, as it
			// should: count only once each allowed backend has served.
			var allowed []*backend
			for _, i := range tt.want {
				allowed = append(allowed, bs[i])
			}
			waitAllServedCtx(t, ctx, c, allowed)
			for _, b := range bs {
				b.calls.Store(0)
			}
			for range 200 {
				must(t, emptyCall(ctx, c))
			}
			counts := callCounts(bs)
			for i, n := range counts {
				allowed := false
				for _, w := range tt.want {
					allowed = allowed || w == i
				}
				if n > 0 && !allowed {
					t.Errorf("backend %d got %d calls; only %v may serve (calls %v)", i, n, tt.want, counts)
				}
			}
		})
	}
	t.Run("a zone with no ready endpoint falls back to the others", func(t *testing.T) {
		zb := startBackends(t, 2)
		c, _ := dial(t, Config{Zone: "z1"}.ServiceConfig(P2C), []resolver.Endpoint{
			endpointOf(zb[0], instance(0, "z1", "", "")), endpointOf(zb[1], instance(0, "z2", "", ""))})
		waitAllServed(t, c, zb[:1])
		zb[0].srv.Stop()
		deadline := time.Now().Add(20 * time.Second)
		for zb[1].calls.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no call reached the other zone within 20s of losing the local one")
			}
			_ = emptyCall(context.Background(), c)
		}
	})
	t.Run("a version nobody runs fails calls with Unavailable naming the version", func(t *testing.T) {
		c, _ := dial(t, Config{Version: "v9"}.ServiceConfig(P2C), eps)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := emptyCall(ctx, c)
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `version "v9"`) {
			t.Errorf("error %v, want Unavailable naming version \"v9\"", err)
		}
	})
}

func TestConsistentHashSticks(t *testing.T) {
	bs := startBackends(t, 3)
	eps := []resolver.Endpoint{endpointOf(bs[0], instance(0, "", "", "")),
		endpointOf(bs[1], instance(0, "", "", "")), endpointOf(bs[2], instance(0, "", "", ""))}
	c, _ := dial(t, ServiceConfig(ConsistentHash), eps)
	waitAllServed(t, c, bs)
	for _, ctx := range []context.Context{
		WithHashKey(context.Background(), "user-42"),
		metadata.AppendToOutgoingContext(context.Background(), HashKeyHeader, "user-42"),
	} {
		for _, b := range bs {
			b.calls.Store(0)
		}
		for range 50 {
			must(t, emptyCall(ctx, c))
		}
		served := 0
		for _, n := range callCounts(bs) {
			if n > 0 {
				served++
			}
		}
		if served != 1 {
			t.Errorf("50 calls with one key went to %d backends: %v", served, callCounts(bs))
		}
	}
}

func TestConfig(t *testing.T) {
	bad := []struct{ name, json, field string }{
		{"a duration that is not one is refused", `{"probeAfter":"soon"}`, "probeAfter"},
		{"an unknown field is refused", `{"zonee":"z1"}`, "zonee"},
		{"too many virtual nodes are refused", `{"virtualNodes":1000000}`, "virtualNodes"},
		{"ejectMax shorter than ejectBase is refused", `{"ejectBase":"10s","ejectMax":"1s"}`, "ejectMax"},
		{"data after the config is refused", `{"zone":"a"} {"zone":"b"}`, "after the config"},
		{"a stray brace after the config is refused", `{"zone":"a"}}`, "after the config"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %v, want ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
	t.Run("grpc.NewClient refuses a bad config with the field named", func(t *testing.T) {
		_, err := grpc.NewClient("passthrough:///x",
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"tianshu_p2c":{"probeAfter":"soon"}}]}`))
		if err == nil || !strings.Contains(err.Error(), "probeAfter") {
			t.Errorf("error %v, want one naming probeAfter", err)
		}
	})
	t.Run("a config inside an application's own JSON keeps its durations", func(t *testing.T) {
		var app struct {
			Routing Config `json:"routing"`
		}
		if err := json.Unmarshal([]byte(`{"routing":{"zone":"z","probeAfter":"2s","ejectMax":"1m"}}`), &app); err != nil {
			t.Fatal(err)
		}
		if got := app.Routing; got.Zone != "z" || time.Duration(got.ProbeAfter) != 2*time.Second || time.Duration(got.EjectMax) != time.Minute {
			t.Errorf("json.Unmarshal gave %+v, want zone z, probeAfter 2s, ejectMax 1m", got)
		}
		if err := json.Unmarshal([]byte(`{"routing":{"decay":"-1s"}}`), &app); err == nil {
			t.Error("json.Unmarshal took a negative decay")
		}
	})
	t.Run("a config survives a round trip through ServiceConfig", func(t *testing.T) {
		in := Config{Version: "v1", Zone: "z", ProbeAfter: Duration(1500 * time.Millisecond), EjectAfter: 3, EjectBase: Duration(time.Second), EjectMax: Duration(time.Minute)}
		sc := in.ServiceConfig(P2C)
		const prefix = `{"loadBalancingConfig":[{"tianshu_p2c":`
		if !strings.HasPrefix(sc, prefix) {
			t.Fatalf("service config %s", sc)
		}
		out, err := ParseConfig([]byte(strings.TrimSuffix(strings.TrimPrefix(sc, prefix), "}]}")))
		if err != nil {
			t.Fatal(err)
		}
		if out.Version != in.Version || out.Zone != in.Zone || out.ProbeAfter != in.ProbeAfter ||
			out.EjectAfter != in.EjectAfter || out.EjectBase != in.EjectBase || out.EjectMax != in.EjectMax {
			t.Errorf("got %+v, want %+v", out, in)
		}
	})
}
