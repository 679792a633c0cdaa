package dubbo_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
)

// The rules of docs/design/dubbo-app-level.md §7, as Dubbo Admin writes them.
const (
	serviceConfigurators = `configVersion: v3.0
scope: service
key: interop/tianshu.interop.v1.Greeter:1.0.0
enabled: true
configs:
  - side: provider
    addresses: ["127.0.0.1:25001"]
    parameters:
      weight: "200"
  - side: provider
    addresses: ["127.0.0.1:25003"]
    parameters:
      disabled: "true"
`
	appConfigurators = `configVersion: v3.0
scope: application
key: tianshu-interop-java-provider
enabled: true
configs:
  - side: provider
    addresses: ["127.0.0.1:25001", "127.0.0.2"]
    parameters:
      weight: 50
      timeout: 3000
`
	tagRouter = `configVersion: v3.0
key: tianshu-interop-java-provider
enabled: true
force: false
runtime: true
tags:
  - name: gray
    match:
      - key: env
        value:
          exact: gray
  - name: canary
    addresses: ["127.0.0.1:25003"]
`
	conditionRouter = `configVersion: v3.0
scope: service
key: tianshu.interop.v1.Greeter
enabled: true
force: false
runtime: true
priority: 0
conditions:
  - "method=greet => host=127.0.0.1"
`
)

var greeter = dubbo.RuleScope{
	Application: "shop",
	Services: []dubbo.Reference{{Interface: "tianshu.interop.v1.Greeter", Group: "interop", Version: "1.0.0",
		Providers: []string{"tianshu-interop-java-provider"}}},
}

func parse(t *testing.T, key, data string) *dubbo.Rule {
	t.Helper()
	r, err := dubbo.ParseRule(key, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConsumerKeys(t *testing.T) {
	want := []string{
		"tianshu.interop.v1.Greeter:1.0.0:interop.configurators",
		"tianshu.interop.v1.Greeter:1.0.0:interop.condition-router",
		"tianshu-interop-java-provider.configurators",
		"tianshu-interop-java-provider.tag-router",
		"tianshu-interop-java-provider.condition-router",
		"shop.configurators",
		"shop.condition-router",
	}
	if got := greeter.Keys(); !slices.Equal(got, want) {
		t.Errorf("keys\n%q\nwant\n%q", got, want)
	}
	noGroup := dubbo.RuleScope{Services: []dubbo.Reference{{Interface: "org.x.Svc"}}}
	if got := noGroup.Keys(); got[0] != "org.x.Svc::.configurators" {
		t.Errorf("key without group and version %q: want org.x.Svc::.configurators, as Dubbo writes it", got[0])
	}
}

func TestTranslateAdminRules(t *testing.T) {
	docs := map[string]*dubbo.Rule{
		"tianshu.interop.v1.Greeter:1.0.0:interop.configurators":    parse(t, "x.configurators", serviceConfigurators),
		"tianshu-interop-java-provider.configurators":               parse(t, "x.configurators", appConfigurators),
		"tianshu-interop-java-provider.tag-router":                  parse(t, "x.tag-router", tagRouter),
		"tianshu.interop.v1.Greeter:1.0.0:interop.condition-router": parse(t, "x.condition-router", conditionRouter),
	}
	got, notes := greeter.Translate(docs)
	want := &rules.Rules{Services: map[string]rules.Service{"tianshu.interop.v1.Greeter": {Instances: []rules.Instance{
		{Address: "127.0.0.1:25001", Weight: 200}, // the service scope wins over the application's 50
		{Address: "127.0.0.2", Weight: 50},
		{Address: "127.0.0.1:25003", Out: true, Tag: "canary"},
	}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Error(err)
	}
	for _, n := range []string{`parameter "timeout" is not applied`, "tags[0] (gray): match conditions", "condition routers are not applied"} {
		if !slices.ContainsFunc(notes, func(s string) bool { return strings.Contains(s, n) }) {
			t.Errorf("notes %q: want one saying %q", notes, n)
		}
	}
}

func TestTranslateScopes(t *testing.T) {
	rule := func(scope, key, item string) *dubbo.Rule {
		return parse(t, "x.configurators", "scope: "+scope+"\nkey: "+key+"\nconfigs:\n  - "+item)
	}
	for _, tc := range []struct {
		name string
		docs map[string]*dubbo.Rule
		want []rules.Instance
	}{
		{"a disabled rule", map[string]*dubbo.Rule{"shop.configurators": parse(t, "x.configurators",
			"scope: application\nkey: shop\nenabled: false\nconfigs:\n  - {side: provider, addresses: [h:1], parameters: {weight: 5}}")}, nil},
		{"weight 0 takes out", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: provider, addresses: [h:1], parameters: {weight: 0}}")}, []rules.Instance{{Address: "h:1", Out: true}}},
		{"another service", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: provider, services: [org.x.Other], addresses: [h:1], parameters: {weight: 5}}")}, nil},
		{"this service by group and version", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: provider, services: [interop/tianshu.interop.v1.Greeter:1.0.0], addresses: [h:1], parameters: {weight: 5}}")},
			[]rules.Instance{{Address: "h:1", Weight: 5}}},
		{"another group", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: provider, services: [other/tianshu.interop.v1.Greeter], addresses: [h:1], parameters: {weight: 5}}")}, nil},
		{"another provider application", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: provider, applications: [billing], addresses: [h:1], parameters: {weight: 5}}")}, nil},
		{"a consumer-side item", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: consumer, addresses: [h:1], parameters: {timeout: 5}}")}, nil},
		{"every host", map[string]*dubbo.Rule{"shop.configurators": rule("application", "shop",
			"{side: provider, addresses: [0.0.0.0], parameters: {weight: 5}}")}, nil},
		{"disabled and weighted by two rules", map[string]*dubbo.Rule{
			"shop.configurators": rule("application", "shop", "{side: provider, addresses: [h:1], parameters: {disabled: true}}"),
			"tianshu.interop.v1.Greeter:1.0.0:interop.configurators": rule("service", "g",
				"{side: provider, addresses: [h:1], parameters: {weight: 7}}"),
		}, []rules.Instance{{Address: "h:1", Weight: 7, Out: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, notes := greeter.Translate(tc.docs)
			if !reflect.DeepEqual(got.For("tianshu.interop.v1.Greeter").Instances, tc.want) {
				t.Errorf("instances %+v, want %+v (notes %q)", got.For("tianshu.interop.v1.Greeter").Instances, tc.want, notes)
			}
		})
	}
}

func TestParseRuleRejects(t *testing.T) {
	for _, tc := range []struct{ name, key, data, want string }{
		{"a misspelt field", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {side: provider, adresses: [h:1], parameters: {weight: 1}}", "adresses"},
		{"no parameters", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {side: provider, addresses: [h:1]}", "no parameters"},
		{"a bad weight", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {addresses: [h:1], parameters: {weight: heavy}}", `weight "heavy"`},
		{"a negative weight", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {addresses: [h:1], parameters: {weight: -1}}", `weight "-1"`},
		{"a bad disabled", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {addresses: [h:1], parameters: {disabled: maybe}}", `disabled "maybe"`},
		{"a bad address", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {addresses: [h:0], parameters: {weight: 1}}", `address "h:0"`},
		{"a bad side", "a.configurators", "scope: service\nkey: k\nconfigs:\n  - {side: both, addresses: [h:1], parameters: {weight: 1}}", `side "both"`},
		{"no scope", "a.configurators", "key: k\nconfigs: []", `scope ""`},
		{"not YAML", "a.configurators", "scope: [", "yaml"},
		{"empty", "a.tag-router", "  ", "empty"},
		{"the 2.6 URL list", "a.configurators", `["override://0.0.0.0/x?weight=1"]`, "Dubbo 2.6"},
		{"two documents", "a.tag-router", "key: k\n---\nkey: j\n", "more than one"},
		{"a tag without name", "a.tag-router", "key: k\ntags:\n  - addresses: [h:1]", "no name"},
		{"a tag twice", "a.tag-router", "key: k\ntags:\n  - {name: a}\n  - {name: a}", `tag "a" listed twice`},
		{"an unknown kind", "a.routes", "key: k", "want a key ending in"},
		{"a condition router without key", "a.condition-router", "conditions: []", "no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dubbo.ParseRule(tc.key, []byte(tc.data))
			if !errors.Is(err, dubbo.ErrInvalidRule) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("error %v: want ErrInvalidRule naming %s and %q", err, tc.key, tc.want)
			}
		})
	}
}

// FuzzParseRule checks that any input either fails with ErrInvalidRule or translates into
// valid rules.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{serviceConfigurators, appConfigurators, tagRouter, conditionRouter, "", "[", "key: k\ntags: [{name: t, addresses: ['::1']}]"} {
		f.Add(s)
	}
	keys := []string{"tianshu.interop.v1.Greeter:1.0.0:interop.configurators", "tianshu-interop-java-provider.configurators",
		"tianshu-interop-java-provider.tag-router", "shop.condition-router"}
	f.Fuzz(func(t *testing.T, data string) {
		for _, k := range keys {
			r, err := dubbo.ParseRule(k, []byte(data))
			if err != nil {
				if !errors.Is(err, dubbo.ErrInvalidRule) {
					t.Fatalf("error %v does not wrap ErrInvalidRule", err)
				}
				continue
			}
			got, _ := greeter.Translate(map[string]*dubbo.Rule{k: r})
			if err := got.Validate(); err != nil {
				t.Fatalf("%s %q translates into invalid rules: %v", k, data, err)
			}
		}
	})
}

// A Tianshu provider carries a Dubbo tag in its metadata; its URL has it as the dubbo.tag
// parameter Dubbo's tag routers read, and a consumer reads it back.
func TestProviderTagIsAURLParameter(t *testing.T) {
	in := &registry.Instance{Service: "org.x.Svc", ID: "a", Version: "1.0.0",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 25001}},
		Metadata:  map[string]string{dubbo.KeyTag: "gray"}}
	u, err := dubbo.FromInstance(in, dubbo.Publish{Application: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Params[dubbo.KeyTag] != "gray" {
		t.Fatalf("URL %s: want dubbo.tag=gray", u)
	}
	back, err := u.Instance("org.x.Svc")
	if err != nil || back.Metadata[dubbo.KeyTag] != "gray" {
		t.Fatalf("read back %+v, %v: want the dubbo.tag metadata", back, err)
	}
}

func ExampleRuleScope_Translate() {
	c := dubbo.RuleScope{Application: "shop", Services: []dubbo.Reference{
		{Interface: "org.example.Greeter", Providers: []string{"greeter"}},
	}}
	tags, err := dubbo.ParseRule("greeter.tag-router", []byte(`
key: greeter
force: false
tags:
  - name: gray
    addresses: ["10.0.0.7:20880"]
`))
	if err != nil {
		panic(err)
	}
	weight, err := dubbo.ParseRule("org.example.Greeter::.configurators", []byte(`
scope: service
key: org.example.Greeter
configs:
  - side: provider
    addresses: ["10.0.0.8"]
    parameters: {weight: 300, timeout: 2000}
`))
	if err != nil {
		panic(err)
	}
	r, notes := c.Translate(map[string]*dubbo.Rule{"greeter.tag-router": tags, "org.example.Greeter::.configurators": weight})
	for _, in := range r.For("org.example.Greeter").Instances {
		fmt.Printf("%s weight %d out %v tag %q\n", in.Address, in.Weight, in.Out, in.Tag)
	}
	fmt.Println(notes)
	// Output:
	// 10.0.0.8 weight 300 out false tag ""
	// 10.0.0.7:20880 weight 0 out false tag "gray"
	// [org.example.Greeter::.configurators: configs[0]: parameter "timeout" is not applied by Tianshu (weight and disabled are)]
}
