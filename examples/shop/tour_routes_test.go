package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The route step's verdict: 404s before the edit are the route's absence, 404s after it are
// the reload still on its way until the route has answered on that front door, and every
// other answer, or a 404 once live, is a failed request.
func TestTheRouteStepCountsAFailureForEveryWrongAnswer(t *testing.T) {
	from := time.Now()
	at := func(ms int) time.Time { return from.Add(time.Duration(ms) * time.Millisecond) }
	probes := []probe{
		{at: at(-20), via: "gateway-1", code: http.StatusNotFound},
		{at: at(-10), via: "gateway-2", code: http.StatusNotFound},
		{at: at(5), via: "gateway-1", code: http.StatusNotFound}, // not live yet: no failure
		{at: at(10), via: "gateway-1", code: http.StatusOK, api: stableAPI},
		{at: at(15), via: "gateway-2", code: http.StatusOK, api: stableAPI},
		{at: at(20), via: "gateway-1", code: http.StatusNotFound},                    // back to 404 once live
		{at: at(25), via: "gateway-2", code: http.StatusBadGateway, api: ""},         // the front door's own error
		{at: at(30), via: "gateway-2"},                                               // no answer
		{at: at(35), via: "gateway-1", code: http.StatusOK, api: ""},                 // not from the API
		{at: at(40), via: "gateway-2", code: http.StatusOK, api: canaryAPI},          // any API instance
		{at: at(-5), via: "gateway-1", code: http.StatusServiceUnavailable, api: ""}, // before, and wrong
	}
	var r routeReport
	judgeRoute(&r, probes, from)
	if r.Before != 2 || r.Matched != 3 || r.Failed != 5 {
		t.Errorf("before %d, matched %d, failed %d; want 2, 3 and 5", r.Before, r.Matched, r.Failed)
	}
	if r.Live["gateway-1"] != 10*time.Millisecond || r.Live["gateway-2"] != 15*time.Millisecond {
		t.Errorf("live %v, want gateway-1 after 10ms and gateway-2 after 15ms", r.Live)
	}
}

func TestTheTourSaysWhichLineOfTheRoutesItCannotFind(t *testing.T) {
	doc, err := configFiles.ReadFile("config/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The shipped file has both places the tour writes to.
	if _, err := insertAfter(string(doc), routesAnchor, routesAnchor, newRoute); err != nil {
		t.Error(err)
	}
	edited, err := insertAfter(string(doc), ordersRouteAnchor, ordersTarget, canaryLine)
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(edited, canaryLine); i < strings.Index(edited, ordersRouteAnchor) || i > strings.Index(edited, "- name: status") {
		t.Errorf("the canary went outside the orders route:\n%s", edited)
	}
	for _, anchor := range []string{"\n  rutes:\n", "    - name: nope "} {
		if _, err := insertAfter(string(doc), anchor, ordersTarget, canaryLine); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(anchor)) {
			t.Errorf("anchor %q: %v, want an error naming it", anchor, err)
		}
	}
}
