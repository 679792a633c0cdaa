package dubbo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/tianshu-go/tianshu/rules"
)

// ErrInvalidRule is wrapped by the error of a governance rule that cannot be read: YAML
// that does not parse, a field Dubbo's rules do not have, a value of the wrong kind, an
// address that is none, a configurator item without parameters.
var ErrInvalidRule = errors.New("dubbo: invalid rule")

// KeyTag is the Dubbo tag: a provider URL parameter (and Tianshu instance metadata) naming
// the provider's static tag, and the call attachment (Triple header) naming a call's tag.
const KeyTag = "dubbo.tag"

// Where Dubbo's config centre keeps governance rules: node ConfigRoot/<key> in ZooKeeper,
// dataId <key> in group ConfigGroup in Nacos, as Dubbo Admin writes them.
const (
	ConfigGroup = "dubbo"
	ConfigRoot  = "/dubbo/config/" + ConfigGroup
)

// The suffixes of the rule keys, which say what kind of rule a key holds.
const (
	SuffixConfigurators   = ".configurators"
	SuffixTagRouter       = ".tag-router"
	SuffixConditionRouter = ".condition-router"
)

// Rule is one governance rule as read from its key: exactly one of the three is set,
// following the key's suffix.
type Rule struct {
	Configurators   *Configurators
	TagRouter       *TagRouter
	ConditionRouter *ConditionRouter
}

// Configurators is a dynamic configuration (Dubbo's ConfiguratorConfig): parameters that
// override those of providers (side provider) or of the consumer itself (side consumer).
type Configurators struct {
	ConfigVersion string       `yaml:"configVersion"`
	Scope         string       `yaml:"scope"` // service or application
	Key           string       `yaml:"key"`
	Enabled       *bool        `yaml:"enabled"` // absent means true
	Configs       []ConfigItem `yaml:"configs"`
}

// ConfigItem is one item of Configurators (Dubbo's ConfigItem).
type ConfigItem struct {
	Type              string            `yaml:"type"`
	Enabled           *bool             `yaml:"enabled"`
	Addresses         []string          `yaml:"addresses"`
	ProviderAddresses []string          `yaml:"providerAddresses"`
	Services          []string          `yaml:"services"`
	Applications      []string          `yaml:"applications"`
	Parameters        map[string]string `yaml:"parameters"`
	Side              string            `yaml:"side"`
	// Match holds v3.0 conditions (address, service, app, param matchers); Tianshu does
	// not evaluate them and leaves an item that has them out.
	Match any `yaml:"match"`
}

// TagRouter is a tag routing rule (Dubbo's TagRouterRule), kept under the provider
// application's key.
type TagRouter struct {
	ConfigVersion string `yaml:"configVersion"`
	Scope         string `yaml:"scope"`
	Key           string `yaml:"key"`
	Enabled       *bool  `yaml:"enabled"`
	Force         bool   `yaml:"force"`
	Runtime       bool   `yaml:"runtime"`
	Priority      int    `yaml:"priority"`
	Tags          []Tag  `yaml:"tags"`
}

// Tag gives a tag to the providers at Addresses (or, in v3.0, to those whose parameters
// Match, which Tianshu does not evaluate).
type Tag struct {
	Name      string   `yaml:"name"`
	Addresses []string `yaml:"addresses"`
	Match     any      `yaml:"match"`
}

// ConditionRouter is a condition routing rule. It is read (so that a broken one is
// reported) but not applied.
type ConditionRouter struct {
	ConfigVersion string `yaml:"configVersion"`
	Scope         string `yaml:"scope"`
	Key           string `yaml:"key"`
	Enabled       *bool  `yaml:"enabled"`
	Force         bool   `yaml:"force"`
	Runtime       bool   `yaml:"runtime"`
	Priority      int    `yaml:"priority"`
	Conditions    []any  `yaml:"conditions"`
}

// ParseRule reads the rule kept under key (named by its suffix) from data, strictly: a
// field the rule kind does not have is an error, so that a misspelt `wieght` or `adresses`
// is reported rather than silently doing nothing. Errors wrap ErrInvalidRule and name the
// key.
func ParseRule(key string, data []byte) (*Rule, error) {
	var r Rule
	var err error
	switch {
	case strings.HasSuffix(key, SuffixConfigurators):
		r.Configurators = &Configurators{}
		if err = decodeStrict(data, r.Configurators); err == nil {
			err = r.Configurators.check()
		}
	case strings.HasSuffix(key, SuffixTagRouter):
		r.TagRouter = &TagRouter{}
		if err = decodeStrict(data, r.TagRouter); err == nil {
			err = r.TagRouter.check()
		}
	case strings.HasSuffix(key, SuffixConditionRouter):
		r.ConditionRouter = &ConditionRouter{}
		if err = decodeStrict(data, r.ConditionRouter); err == nil {
			err = r.ConditionRouter.check()
		}
	default:
		err = fmt.Errorf("want a key ending in %s, %s or %s", SuffixConfigurators, SuffixTagRouter, SuffixConditionRouter)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidRule, key, err)
	}
	return &r, nil
}

// decodeStrict decodes one YAML document into v, refusing unknown fields and anything
// after the document.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty")
	}
	if t := bytes.TrimSpace(data); t[0] == '[' {
		// Dubbo 2.6's form, a list of override:// URLs.
		return errors.New("a list, as Dubbo 2.6's override URLs: Tianshu reads the YAML form of Dubbo 2.7 and later")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

func (c *Configurators) check() error {
	switch c.Scope {
	case "service", "application":
	default:
		return fmt.Errorf("scope %q: want service or application", c.Scope)
	}
	if strings.TrimSpace(c.Key) == "" {
		return errors.New("no key")
	}
	for i, it := range c.Configs {
		if len(it.Parameters) == 0 {
			return fmt.Errorf("configs[%d]: no parameters (Dubbo refuses such an item too)", i)
		}
		switch it.Side {
		case "", "provider", "consumer":
		default:
			return fmt.Errorf("configs[%d]: side %q: want provider or consumer", i, it.Side)
		}
		for _, a := range slices.Concat(it.Addresses, it.ProviderAddresses) {
			if !ruleAddress(a) {
				return fmt.Errorf("configs[%d]: address %q: want ip:port, ip, or 0.0.0.0", i, a)
			}
		}
		if w, ok := it.Parameters["weight"]; ok {
			if n, err := strconv.Atoi(w); err != nil || n < 0 {
				return fmt.Errorf("configs[%d]: weight %q: want a whole number, 0 or more", i, w)
			}
		}
		if d, ok := it.Parameters["disabled"]; ok {
			if _, err := strconv.ParseBool(d); err != nil {
				return fmt.Errorf("configs[%d]: disabled %q: want true or false", i, d)
			}
		}
	}
	return nil
}

func (t *TagRouter) check() error {
	if strings.TrimSpace(t.Key) == "" {
		return errors.New("no key")
	}
	seen := map[string]bool{}
	for i, tag := range t.Tags {
		if strings.TrimSpace(tag.Name) == "" {
			return fmt.Errorf("tags[%d]: no name", i)
		}
		if seen[tag.Name] {
			return fmt.Errorf("tags[%d]: tag %q listed twice", i, tag.Name)
		}
		seen[tag.Name] = true
		for _, a := range tag.Addresses {
			if !ruleAddress(a) {
				return fmt.Errorf("tags[%d]: address %q: want ip:port or ip", i, a)
			}
		}
	}
	return nil
}

func (c *ConditionRouter) check() error {
	if strings.TrimSpace(c.Key) == "" {
		return errors.New("no key")
	}
	return nil
}

// ruleAddress accepts the address forms of Dubbo's rules: host:port, a host alone, and the
// wildcards 0.0.0.0, 0.0.0.0:*, 0.0.0.0:<port> and *.
func ruleAddress(a string) bool {
	if anyHost(a) {
		return true
	}
	if host, port, err := net.SplitHostPort(a); err == nil {
		n, err := strconv.Atoi(port)
		return host != "" && err == nil && n > 0 && n < 65536
	}
	if net.ParseIP(strings.Trim(a, "[]")) != nil {
		return true
	}
	return a != "" && !strings.ContainsAny(a, ":[]/ \t")
}

// anyHost reports the wildcard forms, which name providers on every host.
func anyHost(a string) bool {
	return a == "*" || a == "0.0.0.0" || strings.HasPrefix(a, "0.0.0.0:")
}

func enabled(b *bool) bool { return b == nil || *b }

// RuleScope is what decides which of Dubbo Admin's rules apply to a Tianshu consumer: its
// own application and the services it calls.
type RuleScope struct {
	// Application is the consumer's application name, the key of application-scope
	// configurators written for it; none when empty.
	Application string
	// Services are the Dubbo services the consumer calls.
	Services []Reference
}

// Reference is one Dubbo service a consumer calls.
type Reference struct {
	Interface string
	Group     string
	Version   string
	// Providers names the provider applications, whose configurators and tag router
	// apply to the service's providers (the mapping of the interface lists them).
	Providers []string
	// Service is the Tianshu service name the rules are written for, as the consumer
	// dials it (tianshu:///<service>); Interface when empty.
	Service string
}

func (r Reference) service() string {
	if r.Service != "" {
		return r.Service
	}
	return r.Interface
}

// colonKey is Dubbo's interface:version:group, both colons always present.
func (r Reference) colonKey() string { return r.Interface + ":" + r.Version + ":" + r.Group }

// Keys returns the keys whose rules apply to c, each once, in a fixed order: per service
// its configurators and condition router, then per provider application its
// configurators, tag router and condition router, then the consumer application's
// configurators and condition router.
func (c RuleScope) Keys() []string {
	var keys []string
	add := func(k string) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, r := range c.Services {
		add(r.colonKey() + SuffixConfigurators)
		add(r.colonKey() + SuffixConditionRouter)
	}
	for _, r := range c.Services {
		for _, app := range r.Providers {
			add(app + SuffixConfigurators)
			add(app + SuffixTagRouter)
			add(app + SuffixConditionRouter)
		}
	}
	if c.Application != "" {
		add(c.Application + SuffixConfigurators)
		add(c.Application + SuffixConditionRouter)
	}
	return keys
}

// Check reports a consumer whose keys would not be valid names.
func (c RuleScope) Check() error {
	if len(c.Services) == 0 {
		return fmt.Errorf("%w: a consumer with no service", ErrInvalidRule)
	}
	for i, r := range c.Services {
		if r.Interface == "" {
			return fmt.Errorf("%w: services[%d]: no interface", ErrInvalidRule, i)
		}
		for _, s := range slices.Concat([]string{r.Interface, r.Group, r.Version, c.Application}, r.Providers) {
			if strings.ContainsAny(s, "/ \t\n") {
				return fmt.Errorf("%w: services[%d]: %q would not make a key", ErrInvalidRule, i, s)
			}
		}
	}
	return nil
}

// Translate maps the rules read under c's keys (by key; a missing key has none) onto
// Tianshu's governance rules:
//
//   - configurators, side provider: `disabled: true` takes the providers at the item's
//     addresses (and providerAddresses) out of traffic, `weight: N` replaces their weight
//     (0 takes them out, as a Dubbo balancer never picks them); host:port names one
//     provider, a host every provider on it. Service scope applies to its service, the
//     application scope of a provider application to that application's services, and
//     that of the consumer application to every service (narrowed by the item's services
//     and applications). Service scope wins over application scope, as in Dubbo;
//   - a tag router (the provider application's) gives the providers at a tag's addresses
//     that tag, which calls carrying it (dubbo.tag) are routed to; an untagged call keeps
//     off tagged providers, and a call whose tag no provider has falls back to the
//     untagged ones, as Dubbo's TagStateRouter does with force: false.
//
// What cannot be mapped is left out and described in notes, one line each: items with
// match conditions or wildcard addresses, consumer-side items, parameters other than
// weight and disabled, force: true (applied as false), tags by match, condition routers.
// A rule with enabled: false does nothing. The result is valid (rules.Validate).
func (c RuleScope) Translate(docs map[string]*Rule) (out *rules.Rules, notes []string) {
	out = &rules.Rules{}
	note := func(format string, args ...any) {
		n := fmt.Sprintf(format, args...)
		if !slices.Contains(notes, n) {
			notes = append(notes, n)
		}
	}
	for _, ref := range c.Services {
		t := translation{ref: ref, note: note, over: map[string]*override{}}
		// Earlier first: a later rule overrides an earlier one address by address.
		for _, app := range ref.Providers {
			t.configurators(app+SuffixConfigurators, docs[app+SuffixConfigurators], app)
		}
		if c.Application != "" {
			t.configurators(c.Application+SuffixConfigurators, docs[c.Application+SuffixConfigurators], "")
		}
		t.configurators(ref.colonKey()+SuffixConfigurators, docs[ref.colonKey()+SuffixConfigurators], "")
		for _, app := range ref.Providers {
			t.tags(app+SuffixTagRouter, docs[app+SuffixTagRouter])
		}
		for _, k := range []string{ref.colonKey(), c.Application} {
			if d := docs[k+SuffixConditionRouter]; k != "" && d != nil && d.ConditionRouter != nil && enabled(d.ConditionRouter.Enabled) {
				note("%s: condition routers are not applied by Tianshu; ignored", k+SuffixConditionRouter)
			}
		}
		for _, app := range ref.Providers {
			if d := docs[app+SuffixConditionRouter]; d != nil && d.ConditionRouter != nil && enabled(d.ConditionRouter.Enabled) {
				note("%s: condition routers are not applied by Tianshu; ignored", app+SuffixConditionRouter)
			}
		}
		if len(t.order) == 0 {
			continue
		}
		svc := ref.service()
		s := out.Services[svc]
		for _, a := range t.order {
			o := t.over[a]
			in := rules.Instance{Address: a, Weight: o.weight, Out: o.disabled || o.hasWeight && o.weight == 0, Tag: o.tag}
			if i := slices.IndexFunc(s.Instances, func(x rules.Instance) bool { return x.Address == a }); i >= 0 {
				s.Instances[i] = in // two references of one service: the later wins
			} else {
				s.Instances = append(s.Instances, in)
			}
		}
		if out.Services == nil {
			out.Services = map[string]rules.Service{}
		}
		out.Services[svc] = s
	}
	return out, notes
}

// translation gathers one reference's instance overrides by address, in the order the
// addresses first appear.
type translation struct {
	ref   Reference
	note  func(format string, args ...any)
	over  map[string]*override
	order []string
}

// override is what the rules say of one address, parameter by parameter as Dubbo's
// configurators override a provider URL's parameters.
type override struct {
	weight    int
	hasWeight bool
	disabled  bool
	tag       string
}

func (t *translation) at(addr string) *override {
	in, ok := t.over[addr]
	if !ok {
		in = &override{}
		t.over[addr] = in
		t.order = append(t.order, addr)
	}
	return in
}

// configurators applies the configurators doc kept under key; app is the provider
// application whose key it is, "" for the consumer's or the service's.
func (t *translation) configurators(key string, d *Rule, app string) {
	if d == nil || d.Configurators == nil || !enabled(d.Configurators.Enabled) {
		return
	}
	cfg := d.Configurators
	for i, it := range cfg.Configs {
		at := fmt.Sprintf("%s: configs[%d]", key, i)
		if !enabled(it.Enabled) || !t.applies(it, app) {
			continue
		}
		if it.Side == "consumer" {
			t.note("%s: side consumer: Tianshu applies only provider overrides (weight, disabled); ignored", at)
			continue
		}
		if it.Match != nil {
			t.note("%s: match conditions are not evaluated by Tianshu; item ignored", at)
			continue
		}
		addrs := slices.Concat(it.Addresses, it.ProviderAddresses)
		if len(addrs) == 0 {
			t.note("%s: no addresses: overrides of every provider are not applied by Tianshu; ignored", at)
			continue
		}
		for k := range it.Parameters {
			if k != "weight" && k != "disabled" {
				t.note("%s: parameter %q is not applied by Tianshu (weight and disabled are)", at, k)
			}
		}
		for _, a := range addrs {
			if anyHost(a) {
				t.note("%s: address %q names every host: not applied by Tianshu; ignored", at, a)
				continue
			}
			in := t.at(a)
			if w, ok := it.Parameters["weight"]; ok {
				in.weight, _ = strconv.Atoi(w) // checked by ParseRule
				in.hasWeight = true
			}
			if dis, ok := it.Parameters["disabled"]; ok {
				in.disabled, _ = strconv.ParseBool(dis)
			}
		}
	}
}

// applies reports whether item it of a configurators doc concerns t's service: by its
// services list, and by its applications list against the provider applications.
func (t *translation) applies(it ConfigItem, app string) bool {
	if len(it.Services) > 0 && !slices.ContainsFunc(it.Services, t.serviceMatches) {
		return false
	}
	if len(it.Applications) > 0 {
		apps := t.ref.Providers
		if app != "" {
			apps = []string{app}
		}
		return slices.ContainsFunc(it.Applications, func(a string) bool {
			return a == "*" || slices.Contains(apps, a)
		})
	}
	return true
}

// serviceMatches compares a service key [group/]interface[:version] (or *) with the
// reference: the parts given must be equal.
func (t *translation) serviceMatches(key string) bool {
	if key == "*" {
		return true
	}
	group, rest, hasGroup := strings.Cut(key, "/")
	if !hasGroup {
		group, rest = "", key
	}
	iface, version, hasVersion := strings.Cut(rest, ":")
	return iface == t.ref.Interface && (!hasGroup || group == t.ref.Group) && (!hasVersion || version == t.ref.Version)
}

func (t *translation) tags(key string, d *Rule) {
	if d == nil || d.TagRouter == nil || !enabled(d.TagRouter.Enabled) {
		return
	}
	if d.TagRouter.Force {
		t.note("%s: force: true is applied as false by Tianshu: a call whose tag no provider has goes to the untagged providers", key)
	}
	for i, tag := range d.TagRouter.Tags {
		if tag.Match != nil {
			t.note("%s: tags[%d] (%s): match conditions are not evaluated by Tianshu; only its addresses are tagged", key, i, tag.Name)
		}
		for _, a := range tag.Addresses {
			if anyHost(a) {
				t.note("%s: tags[%d] (%s): address %q names every host; ignored", key, i, tag.Name, a)
				continue
			}
			in := t.at(a)
			if in.tag != "" && in.tag != tag.Name {
				t.note("%s: address %s is in tags %s and %s; the first applies", key, a, in.tag, tag.Name)
				continue
			}
			in.tag = tag.Name
		}
	}
}
