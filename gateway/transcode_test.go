package gateway_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tianshu-go/tianshu/gateway"
)

// transcodeDoc is a route set with one transcoding route; src is the transcode block's
// descriptor setting ("reflection: true", "descriptorSet: /x.pb", or "").
func transcodeDoc(src string) string {
	if src != "" {
		src = ", " + src
	}
	return fmt.Sprintf(`
gateway:
  routes:
    - name: inventory-rest
      match: {path: {prefix: /api/v1}}
      rewrite: {prefix: /v1}
      target: {service: inventory, transcode: {services: [%s]%s}}
`, inventoryService, src)
}

type item struct {
	Shelf    string `json:"shelf"`
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	Count    int    `json:"count"`
	ServedBy string `json:"servedBy"`
}

// decodeItem reads an Item's JSON; protojson varies its spacing, so bodies are compared
// decoded.
func decodeItem(body string) item {
	var it item
	_ = json.Unmarshal([]byte(body), &it)
	return it
}

func TestTranscodeFromADescriptorSetThroughTheFileRegistry(t *testing.T) {
	data, files := inventoryDescriptors(t)
	reg := fileRegistry(t)
	inv := startInventory(t, "inv-1", files, false)
	inv.register(t, reg)
	_, base := newGateway(t, transcodeDoc("descriptorSet: "+writeDescriptorSet(t, data)), gateway.WithDiscovery(reg))

	// Path variables, after the route's rewrite.
	a := do(t, nil, "GET", base+"/api/v1/shelves/s1/items/apple", nil, "")
	var got item
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.status != 200 {
		t.Fatalf("GET an item: %d %s (%v)", a.status, a.body, err)
	}
	if want := (item{Shelf: "s1", SKU: "apple", Name: "item apple", Count: 7, ServedBy: "inv-1"}); got != want {
		t.Errorf("GET an item: %+v, want %+v", got, want)
	}

	// A body that is one field, beside a path variable.
	a = do(t, nil, "POST", base+"/api/v1/shelves/s2/items", map[string]string{"Content-Type": "application/json"},
		`{"sku": "pear", "name": "Conference", "count": 3}`)
	got = item{}
	if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.status != 200 {
		t.Fatalf("POST an item: %d %s (%v)", a.status, a.body, err)
	}
	if want := (item{Shelf: "s2", SKU: "pear", Name: "Conference", Count: 3, ServedBy: "inv-1"}); got != want {
		t.Errorf("POST an item: %+v, want %+v", got, want)
	}

	// Error statuses become HTTP statuses with rpc/httperr's body.
	for _, tc := range []struct {
		sku, code string
		status    int
	}{{"missing", "NOT_FOUND", 404}, {"broken", "UNAVAILABLE", 503}} {
		a = do(t, nil, "GET", base+"/api/v1/shelves/s1/items/"+tc.sku, nil, "")
		if a.status != tc.status || a.err.Code != tc.code || a.err.Message == "" {
			t.Errorf("GET %s: %d %s, want %d with code %s", tc.sku, a.status, a.body, tc.status, tc.code)
		}
	}
	// Bad JSON is refused before the call, naming the field.
	a = do(t, nil, "POST", base+"/api/v1/shelves/s2/items", nil, `{"count": "many"}`)
	if a.status != 400 || a.err.Code != "INVALID_ARGUMENT" || !strings.Contains(a.err.Message, "count") {
		t.Errorf("a body that does not decode: %d %s", a.status, a.body)
	}
	// A path under the route that no rule binds, and a method no rule takes.
	if a = do(t, nil, "GET", base+"/api/v1/nothing", nil, ""); a.status != 404 || a.err.Code != "NOT_FOUND" {
		t.Errorf("a path no rule binds: %d %s", a.status, a.body)
	}
	if a = do(t, nil, "DELETE", base+"/api/v1/shelves/s1/items/apple", nil, ""); a.status != 405 || a.header.Get("Allow") != "GET" {
		t.Errorf("a method no rule takes: %d %s, Allow %q", a.status, a.body, a.header.Get("Allow"))
	}

	// Server streaming: newline-delimited JSON, one message a line.
	resp, err := http.Get(base + "/api/v1/shelves/s3/items:stream?limit=3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/x-ndjson" {
		t.Fatalf("stream: %d %s", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []item
	for sc.Scan() {
		var l struct{ Result item }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("stream line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l.Result)
	}
	if len(lines) != 3 || lines[2].SKU != "sku-2" || lines[2].Shelf != "s3" || lines[2].Count != 2 {
		t.Errorf("stream: %+v, want 3 items of shelf s3", lines)
	}
}

func TestTranscodeByReflectionAnswers503UntilAnInstanceAnswers(t *testing.T) {
	_, files := inventoryDescriptors(t)
	reg := fileRegistry(t)
	_, base := newGateway(t, transcodeDoc("reflection: true"), gateway.WithDiscovery(reg), gateway.WithLogger(quiet()))

	// No instance yet: the other routes would serve; this one says why it cannot.
	a := do(t, nil, "GET", base+"/api/v1/shelves/s1/items/apple", nil, "")
	if a.status != 503 || a.err.Code != "UNAVAILABLE" || !strings.Contains(a.err.Message, "descriptors of "+inventoryService) {
		t.Fatalf("before any instance: %d %s, want 503 naming the descriptors", a.status, a.body)
	}

	inv := startInventory(t, "inv-r", files, true)
	inv.register(t, reg)
	// The gateway asks again with backoff (capped at 10 s), so allow a few of its intervals.
	deadline := time.Now().Add(30 * time.Second)
	for {
		a = do(t, nil, "GET", base+"/api/v1/shelves/s1/items/apple", nil, "")
		if a.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after an instance with reflection came: %d %s", a.status, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := decodeItem(a.body); got.ServedBy != "inv-r" {
		t.Errorf("through reflection's descriptors: %s", a.body)
	}
	resp, err := http.Get(base + "/api/v1/shelves/s3/items:stream?limit=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		n++
	}
	if n != 2 {
		t.Errorf("a stream through reflection's descriptors: %d lines, want 2", n)
	}
}

func TestTranscodeFromLinkedDescriptors(t *testing.T) {
	_, files := inventoryDescriptors(t)
	reg := fileRegistry(t)
	startInventory(t, "inv-l", files, false).register(t, reg)
	// An embedded gateway finds the service among the program's descriptors; here the
	// test's files stand in for protoregistry.GlobalFiles.
	_, base := newGateway(t, transcodeDoc(""), gateway.WithDiscovery(reg), gateway.WithDescriptors(files))
	if a := do(t, nil, "GET", base+"/api/v1/shelves/s1/items/apple", nil, ""); a.status != 200 || !strings.Contains(a.body, "inv-l") {
		t.Errorf("from linked descriptors: %d %s", a.status, a.body)
	}
}

func TestTranscodeDescriptorsMissingRejectTheRouteSet(t *testing.T) {
	data, files := inventoryDescriptors(t)
	reg := fileRegistry(t)
	startInventory(t, "inv-m", files, false).register(t, reg)
	good := transcodeDoc("descriptorSet: " + writeDescriptorSet(t, data))
	g, base := newGateway(t, good, gateway.WithDiscovery(reg))
	gen := g.Generation()

	notProto := writeDescriptorSet(t, []byte("not a descriptor set"))
	for _, tc := range []struct{ name, doc, want string }{
		// The command links in no services: without a source, the service is not there.
		{"not linked in", transcodeDoc(""), "is not in the program's generated packages"},
		{"no such file", transcodeDoc("descriptorSet: /nonexistent/inventory.pb"), "no such file"},
		{"not a descriptor set", transcodeDoc("descriptorSet: " + notProto), "not a FileDescriptorSet"},
		{"no such service", strings.Replace(good, inventoryService, "tianshu.gateway.test.Nothing", 1), "service tianshu.gateway.test.Nothing is not in descriptorSet"},
		// grpc.health.v1.Health is in the program's registry, but has no google.api.http rule.
		{"no rules", strings.Replace(transcodeDoc(""), inventoryService, "grpc.health.v1.Health", 1), "has no method with a google.api.http rule"},
	} {
		c, err := gateway.Parse([]byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		err = g.Apply(c)
		if !errors.Is(err, gateway.ErrInvalid) || !errors.Is(err, gateway.ErrDescriptors) || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "routes[0].target") {
			t.Errorf("%s: Apply: %v, want ErrInvalid and ErrDescriptors naming routes[0].target and %q", tc.name, err, tc.want)
		}
	}
	if g.Generation() != gen {
		t.Errorf("a rejected set changed the generation")
	}
	if a := do(t, nil, "GET", base+"/api/v1/shelves/s1/items/apple", nil, ""); a.status != 200 {
		t.Errorf("after rejected sets, the routes in force: %d %s", a.status, a.body)
	}
}

func TestTranscodeConfigErrors(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{`{urls: ["http://127.0.0.1:1"], transcode: {services: [a.B]}}`, "routes[0].target.transcode: needs a service of the registry"},
		{`{service: inv, protocol: http, transcode: {services: [a.B]}}`, "routes[0].target.transcode: the target's protocol is http"},
		{`{service: inv, transcode: {}}`, "routes[0].target.transcode.services: empty"},
		{`{service: inv, transcode: {services: ["a/B"]}}`, `routes[0].target.transcode.services[0]: "a/B" is not a full protobuf name`},
		{`{service: inv, transcode: {services: [a.B], reflection: true, descriptorSet: x.pb}}`, "both descriptorSet and reflection"},
		{`{service: inv, transcode: {services: [a.B], reflect: true}}`, "reflect"},
		{`{service: inv, transcode: {services: [a.B]}}, canary: {target: {service: inv2}, weight: 5}`, "routes[0].canary.target.transcode: set on one of target and canary only"},
	} {
		doc := "gateway:\n  routes:\n    - {name: r, match: {path: {prefix: /a}}, target: " + tc.target + "}\n"
		_, err := gateway.Parse([]byte(doc))
		if !errors.Is(err, gateway.ErrInvalid) && tc.want != "reflect" || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("target %s: %v, want an error with %q", tc.target, err, tc.want)
		}
	}
	if _, err := gateway.New(gateway.WithDescriptors(nil)); !errors.Is(err, gateway.ErrOption) {
		t.Errorf("WithDescriptors(nil): %v, want ErrOption", err)
	}
	if _, err := gateway.New(gateway.WithGRPCTelemetry(nil)); !errors.Is(err, gateway.ErrOption) {
		t.Errorf("WithGRPCTelemetry(nil): %v, want ErrOption", err)
	}
	var _ *protoregistry.Files // the type WithDescriptors takes

	// A gateway without a registry cannot transcode to a service.
	g, err := gateway.New(gateway.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c, err := gateway.Parse([]byte(transcodeDoc("reflection: true")))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(c); !errors.Is(err, gateway.ErrOption) || !strings.Contains(err.Error(), "WithDiscovery") {
		t.Errorf("a transcoding route without a registry: %v, want ErrOption naming WithDiscovery", err)
	}
}

// TestTranscodeReload adds and removes a transcoding route by route sets, and checks that
// the routes beside it serve throughout and that the connection to the service is closed
// once no route uses it (after the drain, zero here).
func TestTranscodeReload(t *testing.T) {
	data, files := inventoryDescriptors(t)
	set := writeDescriptorSet(t, data)
	reg := fileRegistry(t)
	inv := startInventory(t, "inv-x", files, false)
	inv.register(t, reg)
	up := startEcho(t, "plain")
	plain := fmt.Sprintf(`
    - name: plain
      match: {path: {prefix: /plain}}
      target: {urls: [%q]}
`, up.srv.URL)
	without := "gateway:\n  routes:" + plain
	with := without + fmt.Sprintf(`
    - name: inventory-rest
      match: {path: {prefix: /v1}}
      target: {service: inventory, transcode: {services: [%s], descriptorSet: %s}}
`, inventoryService, set)
	g, base := newGateway(t, without, gateway.WithDiscovery(reg))
	apply := func(doc string) {
		t.Helper()
		c, err := gateway.Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	item := base + "/v1/shelves/s1/items/apple"
	for round := range 3 {
		if a := do(t, nil, "GET", item, nil, ""); a.status != 404 {
			t.Fatalf("round %d, without the route: %d %s", round, a.status, a.body)
		}
		apply(with)
		if a := do(t, nil, "GET", item, nil, ""); a.status != 200 || !strings.Contains(a.body, "inv-x") {
			t.Fatalf("round %d, with the route: %d %s", round, a.status, a.body)
		}
		// Applying the same set again keeps the connection: one connection all along.
		apply(with)
		if a := do(t, nil, "GET", item, nil, ""); a.status != 200 || inv.open.Load() != 1 {
			t.Fatalf("round %d, the same set again: %d, %d connections open", round, a.status, inv.open.Load())
		}
		if a := do(t, nil, "GET", base+"/plain/x", nil, ""); a.status != 200 {
			t.Fatalf("round %d, the route beside it: %d", round, a.status)
		}
		apply(without)
		waitFor(t, "the connection of the removed route closes", func() bool { return inv.open.Load() == 0 })
	}
}

// TestTranscodeCallPolicy checks that a transcoding route's retries resend only idempotent
// requests, that its breaker guards the gRPC calls, and that its timeout bounds them.
func TestTranscodeCallPolicy(t *testing.T) {
	data, files := inventoryDescriptors(t)
	set := writeDescriptorSet(t, data)
	reg := fileRegistry(t)
	inv := startInventory(t, "inv-p", files, false)
	inv.register(t, reg)
	doc := fmt.Sprintf(`
gateway:
  routes:
    - name: retried
      match: {path: {prefix: /v1}}
      target: {service: inventory, transcode: {services: [%[1]s], descriptorSet: %[2]s}}
      retries: {attempts: 3, budget: 1}
    - name: guarded
      match: {path: {prefix: /guarded}}
      rewrite: {prefix: /v1}
      target: {service: inventory, transcode: {services: [%[1]s], descriptorSet: %[2]s}}
      breaker: {failureRatio: 0.5, minRequests: 4, sleepWindow: 1m}
`, inventoryService, set)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg))

	// GET is idempotent: UNAVAILABLE is tried three times.
	before := inv.calls.Load()
	if a := do(t, nil, "GET", base+"/v1/shelves/s1/items/broken", nil, ""); a.status != 503 || a.err.Code != "UNAVAILABLE" {
		t.Fatalf("GET broken: %d %s", a.status, a.body)
	}
	if n := inv.calls.Load() - before; n != 3 {
		t.Errorf("GET broken reached the service %d times, want 3 (retries: {attempts: 3})", n)
	}
	// A POST is not retried, unless it carries an Idempotency-Key.
	before = inv.calls.Load()
	if a := do(t, nil, "POST", base+"/v1/shelves/s1/items", nil, `{"sku": "broken"}`); a.status != 503 {
		t.Fatalf("POST broken: %d %s", a.status, a.body)
	}
	if n := inv.calls.Load() - before; n != 1 {
		t.Errorf("a POST reached the service %d times, want 1: it is not idempotent", n)
	}
	before = inv.calls.Load()
	do(t, nil, "POST", base+"/v1/shelves/s1/items", map[string]string{"Idempotency-Key": "k1"}, `{"sku": "broken"}`)
	if n := inv.calls.Load() - before; n != 3 {
		t.Errorf("a POST with an Idempotency-Key reached the service %d times, want 3", n)
	}

	// The breaker opens after minRequests calls failing half or more, and then refuses
	// without calling the service.
	for range 4 {
		do(t, nil, "GET", base+"/guarded/shelves/s1/items/broken", nil, "")
	}
	before = inv.calls.Load()
	a := do(t, nil, "GET", base+"/guarded/shelves/s1/items/apple", nil, "")
	if a.status != 503 || a.err.Code != "UNAVAILABLE" || inv.calls.Load() != before {
		t.Errorf("with the breaker open: %d %s, %d calls reached the service", a.status, a.body, inv.calls.Load()-before)
	}
	// The other route has its own breaker, closed, on the same connection: one per service.
	if a := do(t, nil, "GET", base+"/v1/shelves/s1/items/apple", nil, ""); a.status != 200 {
		t.Errorf("the route beside it: %d %s", a.status, a.body)
	}
	if n := inv.open.Load(); n != 1 {
		t.Errorf("%d connections to the service, want 1 shared by its two upstreams", n)
	}
}

// TestTranscodeBodyLimit checks that a transcoding route's body limit is its own, not the
// transcoder's default, and that a body over it is 413 even when it comes chunked.
func TestTranscodeBodyLimit(t *testing.T) {
	data, files := inventoryDescriptors(t)
	reg := fileRegistry(t)
	startInventory(t, "inv-b", files, false).register(t, reg)
	doc := strings.Replace(transcodeDoc("descriptorSet: "+writeDescriptorSet(t, data)), "      rewrite:", "      maxBodyBytes: 64\n      rewrite:", 1)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg))
	small := `{"sku": "fig"}`
	big := `{"sku": "fig", "name": "` + strings.Repeat("n", 100) + `"}`
	for _, tc := range []struct {
		body    string
		chunked bool
		status  int
	}{{small, false, 200}, {small, true, 200}, {big, false, 413}, {big, true, 413}} {
		var rd io.Reader = strings.NewReader(tc.body)
		if tc.chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
		resp, err := http.Post(base+"/api/v1/shelves/s1/items", "application/json", rd)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.status == 413 && !strings.Contains(string(b), "RESOURCE_EXHAUSTED") {
			t.Errorf("a body of %d bytes (chunked %v): %d %s, want %d", len(tc.body), tc.chunked, resp.StatusCode, b, tc.status)
		}
	}
}

// TestTranscodeHeaderChanges checks that a route's header changes reach the method, whose
// metadata the request's headers become.
func TestTranscodeHeaderChanges(t *testing.T) {
	data, files := inventoryDescriptors(t)
	set := writeDescriptorSet(t, data)
	reg := fileRegistry(t)
	startInventory(t, "inv-h", files, false).register(t, reg)
	doc := fmt.Sprintf(`
gateway:
  routes:
    - name: add
      match: {path: {prefix: /add}}
      rewrite: {prefix: ""}
      target: {service: inventory, transcode: {services: [%[1]s], descriptorSet: %[2]s}}
      headers: {add: {x-tenant: acme}}
    - name: remove
      match: {path: {prefix: /remove}}
      rewrite: {prefix: ""}
      target: {service: inventory, transcode: {services: [%[1]s], descriptorSet: %[2]s}}
      headers: {remove: [x-tenant]}
`, inventoryService, set)
	_, base := newGateway(t, doc, gateway.WithDiscovery(reg))
	for _, tc := range []struct{ route, want string }{{"add", "item apple for acme"}, {"remove", "item apple"}} {
		a := do(t, nil, "GET", base+"/"+tc.route+"/v1/shelves/s1/items/apple", map[string]string{"X-Tenant": "other"}, "")
		if a.status != 200 || decodeItem(a.body).Name != tc.want {
			t.Errorf("route %s: %d %s, want the name %s", tc.route, a.status, a.body, tc.want)
		}
	}
}
