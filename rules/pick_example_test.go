package rules_test

import (
	"fmt"
	"net/http"

	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rules"
)

// Compile applies one service's rules to a snapshot of its endpoints; rpc.WithRules and
// rest.WithRules do this for every snapshot and every change of the rules.
func ExampleCompile() {
	eps := []rules.Endpoint{
		{ID: "orders-1", Endpoint: pick.Endpoint{Key: "10.0.0.1:8080", Version: "v1"}},
		{ID: "orders-2", Endpoint: pick.Endpoint{Key: "10.0.0.2:8080", Version: "v1"}},
		{ID: "orders-3", Endpoint: pick.Endpoint{Key: "10.0.0.3:8080", Version: "v2"}},
	}
	svc := rules.Service{
		Instances: []rules.Instance{{ID: "orders-2", Out: true}}, // drained
		Routes: []rules.Route{{
			Match: rules.Match{Header: "x-canary", Value: "true"},
			To:    []rules.Destination{{Version: "v2", Weight: 1}},
		}},
	}
	p, err := rules.Compile(pick.AlgRoundRobin, eps, svc, pick.Filter{})
	if err != nil {
		fmt.Println(err)
		return
	}
	canary := http.Header{"X-Canary": {"true"}}
	fmt.Println("canary:", eps[p.Pick("", canary, 0, 0)].Key)
	// The other calls go to every instance in traffic, the v2 one too: an instance tag
	// (metadata "tag") would keep it for the calls that ask for it.
	for range 2 {
		fmt.Println("other:", eps[p.Pick("", nil, 0, 0)].Key)
	}
	// Output:
	// canary: 10.0.0.3:8080
	// other: 10.0.0.1:8080
	// other: 10.0.0.3:8080
}
