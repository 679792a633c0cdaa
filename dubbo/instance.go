package dubbo

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/internal/version"
	"github.com/tianshu-go/tianshu/registry"
)

// URL parameters with a meaning of their own. The first group is Dubbo's; the tianshu.*
// keys let a Tianshu consumer read back exactly what a Tianshu provider registered, and are
// ignored by Dubbo.
const (
	KeyApplication = "application"
	KeyInterface   = "interface"
	KeyMethods     = "methods"
	KeySide        = "side"
	KeyRelease     = "release"
	KeyTimestamp   = "timestamp"
	KeyProtocol    = "dubbo" // Dubbo's wire protocol version, not the release
	KeyVersion     = "version"
	KeyGroup       = "group"
	KeyWeight      = "weight"
	KeyZone        = "zone"
	// KeyDynamic is "true" when the registry entry lives only as long as its writer's
	// session (an ephemeral node); Dubbo writes it on every provider.
	KeyDynamic = "dynamic"
	// KeyCategory names the registry list an entry belongs to: providers, consumers.
	// ZooKeeper's path says it for providers, so Dubbo writes it there only on consumers.
	KeyCategory = "category"
	// KeyPID is the writing process's ID; Dubbo 3 writes it on consumers only.
	KeyPID = "pid"
	// KeyURLProtocol repeats the URL's protocol as a parameter (Nacos metadata has no
	// scheme, and consumer URLs name the protocol they call with it).
	KeyURLProtocol = "protocol"
	// KeyPath repeats the URL's path as a parameter, for Nacos metadata.
	KeyPath = "path"

	// KeyID carries the instance ID; Dubbo has none.
	KeyID = "tianshu.id"
	// KeyEndpoints lists every endpoint when the instance has more than the one the URL
	// names, comma-separated in scheme://host:port form.
	KeyEndpoints = "tianshu.endpoints"
	// KeyDefaults lists the Dubbo keys Tianshu filled in (application, methods, ...) rather
	// than copied from the instance's metadata, so that reading drops them again.
	KeyDefaults = "tianshu.defaults"
)

// Release is the default of the release parameter: Tianshu's own version, prefixed so that
// nobody reads it as a Dubbo release.
//
// Java reads release for no decision on Triple. Dubbo 3.3 only lets a provider's value win
// over a consumer's when merging URLs (DefaultProviderFirstParams); the code that parses it,
// Version.isRelease270OrHigher, is in Dubbo 2.7's rmi and http protocols, where it picks
// the invocation class a provider understands. Version.getIntVersion reads this value as a
// version below 2.7.0 without an error, which could only matter to those two protocols,
// never to a Triple consumer. The version Java does compare on the wire is the dubbo
// parameter (isSupportResponseAttachment on the dubbo protocol), which stays
// ProtocolVersion.
const Release = "tianshu-" + version.Version

// ProtocolVersion is the default of the dubbo parameter, the wire protocol version Dubbo 3
// providers announce.
const ProtocolVersion = "2.0.2"

// Publish holds what a Dubbo URL carries that a registry.Instance does not.
type Publish struct {
	// Application is the application name; the service name when empty.
	Application string
	// Methods lists the service's methods, written comma-separated, when the instance has
	// no "methods" metadata (rpc.Server gives it the methods of its gRPC service).
	Methods []string
	// Release is the release parameter to write; Release (Tianshu's version) when empty.
	Release string
	// Timestamp is the registration time; now when zero. Dubbo consumers warm a provider
	// up from it: its share of calls grows from almost nothing to its weight over the
	// provider's warmup parameter (10 minutes by default).
	Timestamp time.Time
}

// Params returns the parameters a Dubbo provider's URL carries beyond the instance's
// metadata, version, weight and zone, as Dubbo 3.3 writes them: application (the service
// name when Application is empty), interface, methods (left out when unknown), side,
// release, dubbo, timestamp and dynamic. Dubbo 3.3 writes no pid on providers
// (DefaultServiceURLCustomizer drops it, so that a restart does not change the URL), and no
// category in ZooKeeper, whose path says it.
func (p Publish) Params(in *registry.Instance) map[string]string {
	ts := p.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	params := map[string]string{
		KeyInterface:   in.Service,
		KeyApplication: cmp(p.Application, in.Service),
		KeySide:        "provider",
		KeyRelease:     cmp(p.Release, Release),
		KeyProtocol:    ProtocolVersion,
		KeyTimestamp:   strconv.FormatInt(ts.UnixMilli(), 10),
		KeyDynamic:     "true",
	}
	if len(p.Methods) > 0 {
		params[KeyMethods] = strings.Join(p.Methods, ",")
	}
	return params
}

// publishSchemes are the endpoint schemes a Dubbo Triple consumer can call, in order of
// preference: plaintext gRPC is Triple on the wire.
var publishSchemes = []string{"tri", "grpc"}

// FromInstance returns the URL under which a Dubbo consumer finds the instance: a tri://
// URL of its first tri or grpc endpoint, with the interface set to the service name.
// Version, Weight and Zone become the version, weight and zone parameters, and metadata
// becomes parameters. Errors wrap registry.ErrInvalidInstance: an instance with no tri or
// grpc endpoint, or metadata a URL cannot carry or that collides with those parameters.
func FromInstance(in *registry.Instance, p Publish) (URL, error) {
	if err := in.Validate(); err != nil {
		return URL{}, err
	}
	ep, ok := in.Endpoint(publishSchemes...)
	if !ok {
		return URL{}, fmt.Errorf("%w: instance %q of %q has no tri or grpc endpoint to publish for Dubbo consumers", registry.ErrInvalidInstance, in.ID, in.Service)
	}
	params := make(map[string]string, len(in.Metadata)+12)
	for k, v := range in.Metadata {
		switch {
		case k == KeyVersion || k == KeyWeight || k == KeyZone || k == KeyInterface || strings.HasPrefix(k, "tianshu."):
			return URL{}, fmt.Errorf("%w: instance %q of %q: metadata key %q is reserved in Dubbo URLs (use the instance's own field)", registry.ErrInvalidInstance, in.ID, in.Service, k)
		}
		if err := checkParam(k, v); err != nil {
			return URL{}, fmt.Errorf("%w: instance %q of %q: metadata: %w", registry.ErrInvalidInstance, in.ID, in.Service, err)
		}
		params[k] = v
	}
	var defaulted []string
	def := func(k, v string) {
		if _, set := params[k]; !set && v != "" {
			params[k] = v
			defaulted = append(defaulted, k)
		}
	}
	for k, v := range p.Params(in) {
		def(k, v)
	}
	for _, k := range []string{KeyApplication, KeyMethods, KeySide, KeyRelease} {
		if err := checkParam(k, params[k]); params[k] != "" && err != nil {
			return URL{}, fmt.Errorf("%w: instance %q of %q: %w", registry.ErrInvalidInstance, in.ID, in.Service, err)
		}
	}
	slices.Sort(defaulted)
	params[KeyDefaults] = strings.Join(defaulted, ",")
	params[KeyID] = in.ID
	if in.Version != "" {
		if err := checkParam(KeyVersion, in.Version); err != nil {
			return URL{}, fmt.Errorf("%w: instance %q of %q: %w", registry.ErrInvalidInstance, in.ID, in.Service, err)
		}
		params[KeyVersion] = in.Version
	}
	if in.Weight != 0 {
		params[KeyWeight] = strconv.Itoa(in.Weight)
	}
	if in.Zone != "" {
		if err := checkParam(KeyZone, in.Zone); err != nil {
			return URL{}, fmt.Errorf("%w: instance %q of %q: %w", registry.ErrInvalidInstance, in.ID, in.Service, err)
		}
		params[KeyZone] = in.Zone
	}
	if !(len(in.Endpoints) == 1 && in.Endpoints[0].Scheme == "tri") {
		eps := make([]string, len(in.Endpoints))
		for i, e := range in.Endpoints {
			eps[i] = e.String()
		}
		params[KeyEndpoints] = strings.Join(eps, ",")
	}
	return URL{Protocol: "tri", Host: ep.Host, Port: ep.Port, Path: in.Service, Params: params}, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Instance returns the registry instance of service that the URL describes. A URL written by
// FromInstance gives back the instance it was made from. A URL of a Dubbo provider gives an
// instance whose ID is host:port (followed by @group:version when either is set), whose only
// endpoint is protocol://host:port, and whose metadata holds every parameter but version,
// weight and zone. Errors wrap registry.ErrInvalidInstance.
func (u URL) Instance(service string) (*registry.Instance, error) {
	in := &registry.Instance{Service: service, Version: u.Params[KeyVersion], Zone: u.Params[KeyZone]}
	if w, ok := u.Params[KeyWeight]; ok {
		n, err := strconv.Atoi(w)
		if err != nil {
			return nil, fmt.Errorf("%w: Dubbo URL %.80q: weight %q is not a whole number", registry.ErrInvalidInstance, u.String(), w)
		}
		in.Weight = n
	}
	in.ID = u.Params[KeyID]
	if in.ID == "" {
		in.ID = u.Host + ":" + strconv.Itoa(u.Port)
		if g, v := u.Params[KeyGroup], u.Params[KeyVersion]; g != "" || v != "" {
			in.ID += "@" + g + ":" + v
		}
	}
	if eps, ok := u.Params[KeyEndpoints]; ok {
		for s := range strings.SplitSeq(eps, ",") {
			e, err := registry.ParseEndpoint(s)
			if err != nil {
				return nil, fmt.Errorf("Dubbo URL parameter %s: %w", KeyEndpoints, err)
			}
			in.Endpoints = append(in.Endpoints, e)
		}
	} else {
		in.Endpoints = []registry.Endpoint{{Scheme: u.Protocol, Host: u.Host, Port: u.Port}}
	}
	drop := map[string]bool{KeyVersion: true, KeyWeight: true, KeyZone: true}
	if d, ok := u.Params[KeyDefaults]; ok {
		for k := range strings.SplitSeq(d, ",") {
			drop[k] = true
		}
	}
	for k, v := range u.Params {
		if drop[k] || strings.HasPrefix(k, "tianshu.") {
			continue
		}
		if in.Metadata == nil {
			in.Metadata = map[string]string{}
		}
		in.Metadata[k] = v
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("Dubbo URL %.80q: %w", u.String(), err)
	}
	return in, nil
}
