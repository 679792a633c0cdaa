package registry

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// DefaultWeight is the weight of an instance whose Weight is zero or negative. Registries such
// as Nacos filter out zero-weight instances, so Tianshu never sends a zero weight to a
// backend.
const DefaultWeight = 100

// Endpoint is one typed address of an instance, written scheme://host:port.
type Endpoint struct {
	// Scheme names the protocol served there: "grpc" for plain gRPC, "grpcs" for gRPC over
	// TLS, "tri" for Dubbo's Triple (gRPC-compatible), "http" for an admin port, and so on.
	Scheme string
	// Host is an IP address or a host name, without brackets for IPv6.
	Host string
	// Port is the TCP port, 1 to 65535.
	Port int
}

// Addr returns host:port, with brackets around an IPv6 host, as net.Dial expects.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// String returns the endpoint as scheme://host:port.
func (e Endpoint) String() string { return e.Scheme + "://" + e.Addr() }

// MarshalText writes the endpoint as scheme://host:port, its form in JSON documents.
func (e Endpoint) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText parses scheme://host:port.
func (e *Endpoint) UnmarshalText(b []byte) error {
	p, err := ParseEndpoint(string(b))
	if err != nil {
		return err
	}
	*e = p
	return nil
}

// Validate reports whether the endpoint has a scheme, a host and a port in range.
func (e Endpoint) Validate() error {
	switch {
	case !validScheme(e.Scheme):
		return fmt.Errorf("%w: endpoint %q: scheme must be a lower-case letter followed by letters, digits, +, - or . (such as grpc)", ErrInvalidInstance, e.String())
	case e.Host == "":
		return fmt.Errorf("%w: endpoint %q: host is empty", ErrInvalidInstance, e.String())
	case !validHost(e.Host):
		return fmt.Errorf("%w: endpoint %q: host %q is neither an IP address nor a host name", ErrInvalidInstance, e.String(), e.Host)
	case e.Port < 1 || e.Port > 65535:
		return fmt.Errorf("%w: endpoint %q: port %d is outside 1-65535", ErrInvalidInstance, e.String(), e.Port)
	}
	return nil
}

// validScheme reports whether s is a URL scheme (RFC 3986) in lower case: the schemes that
// survive being written as scheme://host:port and parsed back.
func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ParseEndpoint parses scheme://host:port, the form Endpoint.String writes.
func ParseEndpoint(s string) (Endpoint, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q: %w", ErrInvalidInstance, s, err)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q: want scheme://host:port and nothing more", ErrInvalidInstance, s)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q: want scheme://host:port with a numeric port", ErrInvalidInstance, s)
	}
	e := Endpoint{Scheme: u.Scheme, Host: u.Hostname(), Port: port}
	return e, e.Validate()
}

// Instance is one running copy of a service, as a registry stores it.
//
// Instances read from a Discovery are shared between the watchers of a service and must be
// treated as read-only; use Clone to change one.
type Instance struct {
	// ID is unique within the service and stable for the life of the process.
	ID string `json:"id"`
	// Service is the logical service name consumers dial, as in tianshu:///orders.
	Service string `json:"service"`
	// Version is the release of the service, used by version routing.
	Version string `json:"version,omitempty"`
	// Endpoints are the addresses the instance serves; consumers pick the one whose scheme
	// they speak.
	Endpoints []Endpoint `json:"endpoints"`
	// Weight is the relative share of traffic for weighted balancers; see EffectiveWeight.
	Weight int `json:"weight,omitempty"`
	// Zone is the availability zone or data centre, used by zone-aware routing.
	Zone string `json:"zone,omitempty"`
	// Metadata holds free-form labels: tags for canary routing, Dubbo URL parameters, and so
	// on.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// EffectiveWeight returns Weight, or DefaultWeight when Weight is zero or negative.
func (in *Instance) EffectiveWeight() int {
	if in.Weight <= 0 {
		return DefaultWeight
	}
	return in.Weight
}

// ServesOnly reports whether the instance has endpoints and every one is of a scheme in
// schemes: a client that speaks none of them tells such an instance (the other half of a
// service answering both gRPC and HTTP under one name) from a misconfigured one.
func (in *Instance) ServesOnly(schemes ...string) bool {
	if len(in.Endpoints) == 0 {
		return false
	}
	for _, e := range in.Endpoints {
		if !slices.Contains(schemes, e.Scheme) {
			return false
		}
	}
	return true
}

// Endpoint returns the endpoint of the first scheme, in the order given, that the instance
// serves: schemes are the caller's preferences, so Endpoint("grpcs", "grpc") takes TLS when
// the instance offers both.
func (in *Instance) Endpoint(schemes ...string) (Endpoint, bool) {
	for _, s := range schemes {
		for _, e := range in.Endpoints {
			if e.Scheme == s {
				return e, true
			}
		}
	}
	return Endpoint{}, false
}

// Validate reports the first problem that would make the instance unusable: a missing ID or
// service name, a name that cannot be stored by every backend, or a bad endpoint. Errors wrap
// ErrInvalidInstance.
func (in *Instance) Validate() error {
	if err := in.ValidateKey(); err != nil {
		return err
	}
	if len(in.Endpoints) == 0 {
		return fmt.Errorf("%w: instance %q of %q has no endpoint", ErrInvalidInstance, in.ID, in.Service)
	}
	for _, e := range in.Endpoints {
		if err := e.Validate(); err != nil {
			return fmt.Errorf("instance %q of %q: %w", in.ID, in.Service, err)
		}
	}
	return nil
}

// ValidateKey checks only what identifies the instance, its service name and ID, as
// Deregister needs: backends turn them into paths and keys before touching their store.
func (in *Instance) ValidateKey() error {
	if in == nil {
		return fmt.Errorf("%w: nil instance", ErrInvalidInstance)
	}
	if err := ValidateName("service", in.Service); err != nil {
		return err
	}
	return ValidateName("instance ID", in.ID)
}

// ValidateName checks a service name or instance ID. Names are non-empty, at most 255 bytes,
// made of letters, digits and . _ - : @ (Dubbo's "providers:iface:1.0:group" fits), and do
// not start with a dot, so every backend can use them as a path segment or key.
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalidInstance, what)
	}
	if len(name) > 255 {
		return fmt.Errorf("%w: %s %.40q... is longer than 255 bytes", ErrInvalidInstance, what, name)
	}
	if name[0] == '.' {
		return fmt.Errorf("%w: %s %q starts with a dot", ErrInvalidInstance, what, name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:@", r)
		if !ok {
			return fmt.Errorf("%w: %s %q has %q; use letters, digits and . _ - : @", ErrInvalidInstance, what, name, r)
		}
	}
	return nil
}

// Clone returns a deep copy of the instance.
func (in *Instance) Clone() *Instance {
	c := *in
	c.Endpoints = slices.Clone(in.Endpoints)
	c.Metadata = maps.Clone(in.Metadata)
	return &c
}

// Equal reports whether two instances carry the same data. A nil and an empty Metadata map
// are equal.
func (in *Instance) Equal(o *Instance) bool {
	if in == nil || o == nil {
		return in == o
	}
	return in.ID == o.ID && in.Service == o.Service && in.Version == o.Version &&
		in.Weight == o.Weight && in.Zone == o.Zone &&
		slices.Equal(in.Endpoints, o.Endpoints) && maps.Equal(in.Metadata, o.Metadata)
}

// SortInstances sorts a list by ID, the order every Discovery returns.
func SortInstances(list []*Instance) {
	slices.SortFunc(list, func(a, b *Instance) int { return strings.Compare(a.ID, b.ID) })
}

// EqualLists reports whether two lists sorted by ID hold equal instances.
func EqualLists(a, b []*Instance) bool {
	return slices.EqualFunc(a, b, (*Instance).Equal)
}
