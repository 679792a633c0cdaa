package pick

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock is a Clock moved by hand.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.t.Store(int64(time.Hour))
	return c
}
func (c *fakeClock) now() time.Duration      { return time.Duration(c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

func seeded(seed uint64) Option { return WithRand(rand.New(rand.NewPCG(seed, seed^0x5eed)).Uint64) }

func weighted(ws ...int) []Endpoint {
	eps := make([]Endpoint, len(ws))
	for i, w := range ws {
		eps[i] = Endpoint{Key: fmt.Sprintf("10.0.0.%d:9000", i+1), Weight: w}
	}
	return eps
}

var allAlgorithms = []Algorithm{AlgP2C, AlgRoundRobin, AlgRandom, AlgLeastActive, AlgConsistentHash}

// TestDistribution: weights 1:2:3 give shares 1/6, 2/6, 3/6. Tolerances (absolute, on the
// share) are stated per algorithm: round robin is exact over whole cycles; random, least
// active and P2C are binomial over 60,000 seeded picks (3 sigma is about 0.6%); consistent
// hash depends on where the virtual nodes land: with 1,000 of them per endpoint of mean
// weight an arc sum is within about 3% of its share, and a fixed list gives fixed arcs.
func TestDistribution(t *testing.T) {
	tolerance := map[Algorithm]float64{
		AlgRoundRobin: 0, AlgRandom: 0.01, AlgLeastActive: 0.01, AlgP2C: 0.01, AlgConsistentHash: 0.02,
	}
	const picks = 60000
	for _, alg := range allAlgorithms {
		t.Run(alg.String()+" gives weights 1:2:3 shares 1:2:3", func(t *testing.T) {
			eps := weighted(1, 2, 3)
			clock := newFakeClock()
			p, err := New(alg, eps, seeded(7), WithClock(clock.now), WithVirtualNodes(1000))
			if err != nil {
				t.Fatal(err)
			}
			keys := rand.New(rand.NewPCG(3, 4))
			counts := make([]int, len(eps))
			for range picks {
				// Calls finish before the next starts, so in-flight and latency are equal
				// and only the weights tell the endpoints apart.
				i := p.Pick(keys.Uint64(), clock.now())
				eps[i].Stats.Begin()
				eps[i].Stats.End(Success)
				counts[i]++
			}
			for i, c := range counts {
				want := float64(eps[i].Weight) / 6
				got := float64(c) / picks
				if math.Abs(got-want) > tolerance[alg]+1e-9 {
					t.Errorf("endpoint %d (weight %d): share %.4f, want %.4f ± %.3f (counts %v)",
						i, eps[i].Weight, got, want, tolerance[alg], counts)
				}
			}
		})
	}
}

func TestRoundRobinIsSmooth(t *testing.T) {
	for _, live := range []bool{false, true} {
		name := "a precomputed cycle interleaves weights 5:1:1 as a a b a c a a"
		if live {
			name = "the live algorithm gives the same sequence as the precomputed cycle"
		}
		t.Run(name, func(t *testing.T) {
			eps := weighted(5, 1, 1)
			for i := range eps {
				eps[i].Stats = NewStats()
			}
			rr := newRoundRobin(eps)
			if live {
				rr.live, rr.cycle = newSWRR(eps, 1), nil
			}
			var got []int
			for range 14 {
				got = append(got, rr.Pick(0, 0))
			}
			want := []int{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0}
			if !slices.Equal(got, want) {
				t.Errorf("sequence %v, want %v", got, want)
			}
		})
	}
}

func TestRoundRobinLargeFleetFallsBackToLiveState(t *testing.T) {
	ws := make([]int, 3000)
	for i := range ws {
		ws[i] = 1000 + i // gcd 1: the cycle would be millions long
	}
	rr := newRoundRobin(weighted(ws...))
	if rr.live == nil || rr.cycle != nil {
		t.Fatalf("want the live algorithm for a cycle of %d x %d", len(ws), rr.live.total)
	}
}

func TestLeastActivePrefersTheIdlest(t *testing.T) {
	eps := weighted(100, 100, 100)
	p, _ := New(AlgLeastActive, eps, seeded(1))
	eps[0].Stats.Begin()
	eps[1].Stats.Begin()
	eps[1].Stats.Begin()
	for range 100 {
		if i := p.Pick(0, 0); i != 2 {
			t.Fatalf("picked %d with in-flight %d, %d, %d; want 2", i,
				eps[0].Stats.InFlight(), eps[1].Stats.InFlight(), eps[2].Stats.InFlight())
		}
	}
}

func TestP2C(t *testing.T) {
	t.Run("a ten times slower endpoint gets under 10% of calls", func(t *testing.T) {
		clock := newFakeClock()
		eps := weighted(1, 1, 1)
		p, _ := New(AlgP2C, eps, seeded(2), WithClock(clock.now))
		counts := make([]int, 3)
		for range 3000 {
			now := clock.now()
			i := p.Pick(0, now)
			eps[i].Stats.Begin()
			d := time.Millisecond
			if i == 2 {
				d = 10 * time.Millisecond
			}
			clock.advance(d)
			eps[i].Stats.EndTimed(Success, now)
			counts[i]++
		}
		if share := float64(counts[2]) / 3000; share >= 0.10 {
			t.Errorf("slow endpoint got %.1f%% of calls (counts %v)", share*100, counts)
		}
	})
	t.Run("a failing endpoint gets under 10% of calls", func(t *testing.T) {
		clock := newFakeClock()
		eps := weighted(1, 1, 1)
		p, _ := New(AlgP2C, eps, seeded(3), WithClock(clock.now))
		counts := make([]int, 3)
		for range 3000 {
			now := clock.now()
			i := p.Pick(0, now)
			eps[i].Stats.Begin()
			clock.advance(time.Millisecond)
			o := Success
			if i == 0 {
				o = Failure
			}
			eps[i].Stats.EndTimed(o, now)
			counts[i]++
		}
		if share := float64(counts[0]) / 3000; share >= 0.10 {
			t.Errorf("failing endpoint got %.1f%% of calls (counts %v)", share*100, counts)
		}
	})
	t.Run("an endpoint not picked for ProbeAfter is probed again", func(t *testing.T) {
		clock := newFakeClock()
		eps := weighted(1, 1)
		p, _ := New(AlgP2C, eps, seeded(4), WithClock(clock.now), WithProbeAfter(time.Second))
		// Endpoint 1 is known to be very slow; endpoint 0 is fast.
		eps[1].Stats.latency.Store(math.Float64bits(float64(time.Second)))
		eps[0].Stats.latency.Store(math.Float64bits(float64(time.Millisecond)))
		for range 10 {
			p.Pick(0, clock.now())
		}
		clock.advance(500 * time.Millisecond)
		for range 100 {
			if i := p.Pick(0, clock.now()); i == 1 {
				t.Fatalf("slow endpoint picked before its probe was due")
			}
		}
		clock.advance(600 * time.Millisecond)
		probes := 0
		for range 100 {
			if p.Pick(0, clock.now()) == 1 {
				probes++
			}
		}
		if probes != 1 {
			t.Errorf("slow endpoint picked %d times after 1.1s unpicked, want exactly 1 probe", probes)
		}
	})
}

func TestEjection(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg.String()+" skips an unreachable endpoint, probes it after the back-off, and takes it back when the probe succeeds", func(t *testing.T) {
			clock := newFakeClock()
			eps := weighted(1, 1, 1)
			p, _ := New(alg, eps, seeded(5), WithClock(clock.now), WithEjection(2, time.Second, 4*time.Second))
			bad := eps[1].Stats
			bad.Begin()
			bad.End(Unreachable)
			if bad.Ejected() {
				t.Fatal("ejected after one failure, want two")
			}
			bad.Begin()
			bad.End(Unreachable)
			if !bad.Ejected() {
				t.Fatal("not ejected after two consecutive transport failures")
			}
			keys := rand.New(rand.NewPCG(1, 1))
			for range 300 {
				if i := p.Pick(keys.Uint64(), clock.now()); i == 1 {
					t.Fatal("picked the ejected endpoint during its back-off")
				}
			}
			clock.advance(1100 * time.Millisecond)
			probes := 0
			for range 300 {
				if p.Pick(keys.Uint64(), clock.now()) == 1 {
					probes++
				}
			}
			if probes != 1 {
				t.Fatalf("ejected endpoint picked %d times after its back-off, want exactly 1 probe", probes)
			}
			// The probe fails: ejected again, for twice as long.
			bad.Begin()
			bad.End(Unreachable)
			clock.advance(1100 * time.Millisecond)
			for range 300 {
				if p.Pick(keys.Uint64(), clock.now()) == 1 {
					t.Fatal("probed again before the doubled back-off")
				}
			}
			clock.advance(1000 * time.Millisecond)
			for p.Pick(keys.Uint64(), clock.now()) != 1 {
			}
			bad.Begin()
			bad.End(Success)
			if bad.Ejected() {
				t.Fatal("still ejected after a successful probe")
			}
		})
	}
	t.Run("with every endpoint ejected a pick still returns one", func(t *testing.T) {
		clock := newFakeClock()
		eps := weighted(1, 1)
		for _, alg := range allAlgorithms {
			p, _ := New(alg, eps, WithClock(clock.now))
			for i := range eps {
				eps[i].Stats.ejectedUntil.Store(int64(clock.now() + time.Hour))
				eps[i].Stats.ejected.Store(true)
			}
			if i := p.Pick(1, clock.now()); i < 0 || i > 1 {
				t.Errorf("%v picked %d", alg, i)
			}
		}
	})
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name string
		err  func() error
	}{
		{"an empty list gives ErrNoEndpoint", func() error { _, err := New(AlgRandom, nil); return err }},
		{"a router over an empty list gives ErrNoEndpoint", func() error { _, err := NewRouter(AlgP2C, nil, Filter{}); return err }},
		{"a version nobody runs gives ErrNoEndpoint", func() error {
			_, err := NewRouter(AlgP2C, []Endpoint{{Key: "a", Version: "v1"}}, Filter{Version: "v2"})
			return err
		}},
		{"an unknown algorithm gives an error", func() error { _, err := New(Algorithm(42), weighted(1)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.name != "an unknown algorithm gives an error" && !errors.Is(err, ErrNoEndpoint) {
				t.Errorf("error %v, want ErrNoEndpoint", err)
			}
		})
	}
}

func TestRouter(t *testing.T) {
	eps := []Endpoint{
		{Key: "a", Version: "v1", Zone: "z1"},
		{Key: "b", Version: "v1", Zone: "z2"},
		{Key: "c", Version: "v1", Zone: "z2", Tag: "canary"},
		{Key: "d", Version: "v2", Zone: "z1"},
	}
	tests := []struct {
		name   string
		filter Filter
		tag    string
		want   []string // the keys that may be picked
	}{
		{"an untagged call avoids canary instances", Filter{}, "", []string{"a", "b", "d"}},
		{"a canary call goes to canary instances", Filter{}, "canary", []string{"c"}},
		{"a call with an unknown tag is treated as untagged", Filter{}, "blue", []string{"a", "b", "d"}},
		{"the version filter drops other versions", Filter{Version: "v2"}, "", []string{"d"}},
		{"the caller's zone is preferred", Filter{Zone: "z1"}, "", []string{"a", "d"}},
		{"version and zone combine", Filter{Version: "v1", Zone: "z1"}, "", []string{"a"}},
		{"a zone with no endpoint of the set falls back to all of it", Filter{Zone: "z1"}, "canary", []string{"c"}},
		{"a zone nobody is in falls back to everyone", Filter{Zone: "z9"}, "", []string{"a", "b", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := slices.Clone(eps)
			r, err := NewRouter(AlgRandom, list, tt.filter, seeded(1))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for range 1000 {
				seen[list[r.Pick(tt.tag, 0, 0)].Key] = true
			}
			var got []string
			for k := range seen {
				got = append(got, k)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("picked %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("a fleet of only canary instances still serves untagged calls", func(t *testing.T) {
		list := []Endpoint{{Key: "c", Tag: "canary"}}
		r, err := NewRouter(AlgP2C, list, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if i := r.Pick("", 0, 0); i != 0 {
			t.Errorf("picked %d", i)
		}
	})
}
