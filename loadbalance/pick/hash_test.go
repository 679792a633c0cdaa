package pick

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func ringOf(t *testing.T, keys []string) (Picker, []Endpoint) {
	t.Helper()
	eps := make([]Endpoint, len(keys))
	for i, k := range keys {
		eps[i] = Endpoint{Key: k}
	}
	p, err := New(AlgConsistentHash, eps)
	if err != nil {
		t.Fatal(err)
	}
	return p, eps
}

func names(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("10.1.%d.%d:7000", i/250, i%250)
	}
	return s
}

// owners maps each of the keys to the Key of the endpoint it lands on.
func owners(t *testing.T, names []string, keys []uint64) []string {
	p, eps := ringOf(t, names)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = eps[p.Pick(k, 0)].Key
	}
	return out
}

func TestConsistentHash(t *testing.T) {
	const n, nkeys = 10, 20000
	r := rand.New(rand.NewPCG(9, 9))
	keys := make([]uint64, nkeys)
	for i := range keys {
		keys[i] = HashKey(fmt.Sprintf("user-%d", r.Int()))
	}
	base := names(n)
	before := owners(t, base, keys)

	t.Run("the same key goes to the same endpoint across pickers built from the same list in any order", func(t *testing.T) {
		for range 5 {
			shuffled := append([]string(nil), base...)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			after := owners(t, shuffled, keys)
			for i := range keys {
				if after[i] != before[i] {
					t.Fatalf("key %d moved from %s to %s after a reorder", i, before[i], after[i])
				}
			}
		}
	})
	// Ideal movement is 1/n (removal) and 1/(n+1) (addition); the tolerance allows for the
	// uneven arcs of 100 virtual nodes. Keys must move only to or from the changed endpoint.
	t.Run("removing one of 10 endpoints moves about 1/10 of the keys, all from it", func(t *testing.T) {
		after := owners(t, base[1:], keys)
		moved := 0
		for i := range keys {
			if after[i] != before[i] {
				moved++
				if before[i] != base[0] {
					t.Fatalf("key %d moved from surviving endpoint %s to %s", i, before[i], after[i])
				}
			}
		}
		if f := float64(moved) / nkeys; f < 0.07 || f > 0.13 {
			t.Errorf("%.3f of keys moved, want about 0.100 (0.07-0.13)", f)
		}
	})
	t.Run("adding an 11th endpoint moves about 1/11 of the keys, all to it", func(t *testing.T) {
		added := append(append([]string(nil), base...), "10.9.9.9:7000")
		after := owners(t, added, keys)
		moved := 0
		for i := range keys {
			if after[i] != before[i] {
				moved++
				if after[i] != "10.9.9.9:7000" {
					t.Fatalf("key %d moved from %s to %s, not to the new endpoint", i, before[i], after[i])
				}
			}
		}
		if f := float64(moved) / nkeys; f < 0.06 || f > 0.12 {
			t.Errorf("%.3f of keys moved, want about 0.091 (0.06-0.12)", f)
		}
	})
}

func TestHashKeyIsStable(t *testing.T) {
	// Rings built by different processes and releases must agree, so the hash is pinned.
	if got, want := HashKey("user-42"), HashKey("user-42"); got != want {
		t.Fatal("HashKey is not deterministic")
	}
	if HashKey("user-42") == HashKey("user-43") {
		t.Fatal("neighbouring keys collide")
	}
}
