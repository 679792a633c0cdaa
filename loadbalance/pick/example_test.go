package pick_test

import (
	"fmt"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
)

// Smooth weighted round robin spreads the heavy endpoint's turns among the others.
func Example() {
	eps := []pick.Endpoint{{Key: "a", Weight: 5}, {Key: "b", Weight: 1}, {Key: "c", Weight: 1}}
	p, err := pick.New(pick.AlgRoundRobin, eps)
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 7 {
		i := p.Pick(0, 0)
		eps[i].Stats.Begin()
		// ... make the call to eps[i].Key ...
		eps[i].Stats.End(pick.Success)
		fmt.Print(eps[i].Key, " ")
	}
	fmt.Println()
	// Output: a a b a c a a
}

// P2C needs the clock reading at the start of the call, to time it.
func ExampleNew_p2c() {
	eps := []pick.Endpoint{{Key: "10.0.0.1:9000"}, {Key: "10.0.0.2:9000"}}
	p, err := pick.New(pick.AlgP2C, eps)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := pick.MonotonicClock()
	i := p.Pick(0, start)
	eps[i].Stats.Begin()
	// ... make the call ...
	eps[i].Stats.EndTimed(pick.Success, start)
	fmt.Println(eps[i].Stats.InFlight(), eps[i].Stats.SuccessRate())
	// Output: 0 1
}

// The same key always lands on the same endpoint.
func ExampleHashKey() {
	eps := []pick.Endpoint{{Key: "10.0.0.1:9000"}, {Key: "10.0.0.2:9000"}, {Key: "10.0.0.3:9000"}}
	p, _ := pick.New(pick.AlgConsistentHash, eps)
	first := p.Pick(pick.HashKey("user-42"), 0)
	again := p.Pick(pick.HashKey("user-42"), 0)
	fmt.Println(first == again)
	// Output: true
}

// A Router sends canary traffic to canary instances and keeps the rest in the caller's zone.
func ExampleRouter() {
	eps := []pick.Endpoint{
		{Key: "a", Zone: "east"},
		{Key: "b", Zone: "west"},
		{Key: "c", Zone: "west", Tag: "canary"},
	}
	r, err := pick.NewRouter(pick.AlgRandom, eps, pick.Filter{Zone: "east"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(eps[r.Pick("", 0, 0)].Key, eps[r.Pick("canary", 0, 0)].Key)
	// Output: a c
}
