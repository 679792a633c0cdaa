package dubbo

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"

	"github.com/tianshu-go/tianshu/registry"
)

// ErrUnsupportedMetadata is wrapped by MetadataServiceAddr's error for an instance whose
// metadata Tianshu cannot fetch: one that serves only the hessian2 MetadataService (meta-v
// other than 2.0.0, as Dubbo 3.2 providers do), or keeps its metadata in the metadata report
// (storage-type remote).
var ErrUnsupportedMetadata = errors.New("dubbo: the instance's metadata cannot be fetched by Tianshu")

// DiscoveryMode says where a Tianshu consumer of a Dubbo interface looks for providers.
type DiscoveryMode int

const (
	// DiscoverAll, the default, reads both levels and merges them: the providers registered
	// at interface level (/dubbo/<interface>/providers, Nacos providers:<interface>:...)
	// and those found through the interface's mapping at application level. Dubbo's own
	// default (APPLICATION_FIRST) drops the interface-level list as soon as one application-
	// level address exists, which starves every provider that registers at interface level
	// only, Tianshu ones among them; the union serves a fleet in the middle of a migration
	// whichever way each provider registers.
	DiscoverAll DiscoveryMode = iota
	// DiscoverInterface reads the interface level only, as Tianshu did before it read
	// application-level registrations (Dubbo's FORCE_INTERFACE).
	DiscoverInterface
	// DiscoverApplication reads the application level only (Dubbo's FORCE_APPLICATION).
	DiscoverApplication
)

// String returns the mode's name as ParseDiscoveryMode reads it: all, interface or
// application.
func (m DiscoveryMode) String() string {
	switch m {
	case DiscoverAll:
		return "all"
	case DiscoverInterface:
		return "interface"
	case DiscoverApplication:
		return "application"
	}
	return "DiscoveryMode(" + strconv.Itoa(int(m)) + ")"
}

// ErrInvalidDiscoveryMode is wrapped by ParseDiscoveryMode's error and by the backends'
// errors for a DiscoveryMode out of range.
var ErrInvalidDiscoveryMode = errors.New("dubbo: invalid discovery mode")

// Check reports whether m is one of the modes above.
func (m DiscoveryMode) Check() error {
	if m < DiscoverAll || m > DiscoverApplication {
		return fmt.Errorf("%w %d: want DiscoverAll, DiscoverInterface or DiscoverApplication", ErrInvalidDiscoveryMode, int(m))
	}
	return nil
}

// ParseDiscoveryMode reads a mode's name (all, interface or application), as a registry URL
// parameter gives it.
func ParseDiscoveryMode(s string) (DiscoveryMode, error) {
	for m := DiscoverAll; m <= DiscoverApplication; m++ {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w %q: want all, interface or application", ErrInvalidDiscoveryMode, s)
}

// MetadataServiceAddr returns the host:port on which the instance serves MetadataServiceV2,
// as a Dubbo 3.3 consumer finds it: the instance's host and the port of its
// MetaServiceURLParams, whose protocol must be tri. Errors wrap ErrUnsupportedMetadata for
// an instance whose metadata Tianshu cannot fetch (see there), and ErrInvalidInstance for
// metadata that does not say where the service is.
func MetadataServiceAddr(in AppInstance) (string, error) {
	switch st := in.Metadata[MetaStorageType]; st {
	case "", StorageLocal:
	default:
		return "", fmt.Errorf("%w: instance %s of %q keeps its metadata in the metadata report (%s %q), which Tianshu does not read",
			ErrUnsupportedMetadata, in.ID, in.App, MetaStorageType, st)
	}
	if v := in.Metadata[MetaVersion]; v != MetadataServiceV2 {
		return "", fmt.Errorf("%w: instance %s of %q offers only MetadataService v1 over hessian2 (%s %q, want %s)",
			ErrUnsupportedMetadata, in.ID, in.App, MetaVersion, v, MetadataServiceV2)
	}
	p, err := in.URLParams()
	if err != nil {
		return "", err
	}
	if p == nil {
		return "", fmt.Errorf("%w %s of %q: no %s", ErrInvalidInstance, in.ID, in.App, MetaServiceURLParams)
	}
	if p["protocol"] != "tri" {
		return "", fmt.Errorf("%w: instance %s of %q serves MetadataServiceV2 over %q, Tianshu calls it over tri",
			ErrUnsupportedMetadata, in.ID, in.App, p["protocol"])
	}
	port, err := strconv.Atoi(p["port"])
	if err != nil || port < 1 || port > 65535 {
		return "", fmt.Errorf("%w %s of %q: %s port %q is not a number in 1-65535", ErrInvalidInstance, in.ID, in.App, MetaServiceURLParams, p["port"])
	}
	if in.Host == "" {
		return "", fmt.Errorf("%w %s of %q: no address", ErrInvalidInstance, in.ID, in.App)
	}
	return net.JoinHostPort(in.Host, strconv.Itoa(port)), nil
}

// MetadataLookup gives the metadata of an application's revision, and false while it is not
// known (not fetched yet, or the fetch failed).
type MetadataLookup func(app, revision string) (MetadataInfo, bool)

// ResolveInstances returns the instances of interface iface that the application-level
// instances offer, given their metadata: one per instance and tri service of the interface
// (a provider may export it under several groups and versions), in the shape an interface-
// level Dubbo provider's URL has (see URL.Instance): ID host:port@group:version, a tri://
// endpoint, Version the service's version, and metadata the service's parameters with
// "group". The port is the service's own, else the instance's tri endpoint, else the
// instance's port, as a Dubbo consumer picks it. Instances whose metadata is not known are
// left out, as a Dubbo consumer leaves them out until it can fetch it. The result is sorted
// by ID, one instance per ID.
//
// skipped lists, per instance left out for bad data, an error wrapping ErrInvalidInstance or
// registry.ErrInvalidInstance, for the caller to log once.
func ResolveInstances(iface string, instances []AppInstance, meta MetadataLookup) (list []*registry.Instance, skipped []error) {
	seen := map[string]bool{}
	for _, in := range instances {
		rev := in.Revision()
		if rev == "" || rev == NoRevision {
			continue // no services, as Dubbo reads it
		}
		info, ok := meta(in.App, rev)
		if !ok {
			continue
		}
		// An application may serve many interfaces: pick this one's out before ordering them,
		// not after (a sort of every service per instance per interface was most of the cost
		// of a consumer of many interfaces).
		var keys []string
		for k, s := range info.Services {
			if s.Name == iface && s.Protocol == "tri" {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, compareJava)
		for _, k := range keys {
			s := info.Services[k]
			ri, err := serviceInstance(iface, in, s)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			if !seen[ri.ID] {
				seen[ri.ID] = true
				list = append(list, ri)
			}
		}
	}
	registry.SortInstances(list)
	return list, skipped
}

// serviceInstance builds the URL a Dubbo consumer builds for service s on instance in, and
// reads it as an interface-level URL would be read.
func serviceInstance(iface string, in AppInstance, s ServiceInfo) (*registry.Instance, error) {
	port := s.Port
	if port <= 0 {
		eps, err := in.Endpoints()
		if err != nil {
			return nil, err
		}
		for _, e := range eps {
			if e.Protocol == "tri" {
				port = e.Port
				break
			}
		}
	}
	if port <= 0 {
		port = in.Port
	}
	params := maps.Clone(s.Params)
	if params == nil {
		params = map[string]string{}
	}
	params[KeyInterface] = iface
	setOrDelete(params, KeyGroup, s.Group)
	setOrDelete(params, KeyVersion, s.Version)
	// The instance's own parameters: its start (Dubbo's warm-up reads it there) and its
	// tag, which Dubbo's tag router reads from the instance when the service has none.
	for _, k := range []string{MetaTimestamp, "dubbo.tag"} {
		if v, ok := in.Metadata[k]; ok && params[k] == "" {
			params[k] = v
		}
	}
	path := s.Path
	if path == "" {
		path = iface
	}
	u := URL{Protocol: "tri", Host: in.Host, Port: port, Path: path, Params: params}
	ri, err := u.Instance(iface)
	if err != nil {
		return nil, fmt.Errorf("instance %s of %q, service %s: %w", in.ID, in.App, s.MatchKey(), err)
	}
	return ri, nil
}

func setOrDelete(m map[string]string, k, v string) {
	if v == "" {
		delete(m, k)
	} else {
		m[k] = v
	}
}

// MergeInstances returns the interface-level and the application-level instances of one
// interface together, sorted by ID. A provider registered at both levels (Dubbo's default
// register-mode, all) appears once: instances are the same provider when they have the same
// tri (else grpc) address, "group" and version, or the same ID. The interface-level one wins:
// it is the provider's own full record (a Tianshu provider's ID, weight, zone and every
// endpoint are there), and it does not depend on a metadata fetch, so the provider's entry
// does not change when its application-level registration comes and goes.
func MergeInstances(interfaceLevel, appLevel []*registry.Instance) []*registry.Instance {
	if len(appLevel) == 0 {
		return interfaceLevel
	}
	out := make([]*registry.Instance, 0, len(interfaceLevel)+len(appLevel))
	keys := make(map[string]bool, len(interfaceLevel))
	ids := make(map[string]bool, len(interfaceLevel))
	for _, in := range interfaceLevel {
		keys[sameProviderKey(in)] = true
		ids[in.ID] = true
		out = append(out, in)
	}
	for _, in := range appLevel {
		if k := sameProviderKey(in); !keys[k] && !ids[in.ID] {
			keys[k] = true
			ids[in.ID] = true
			out = append(out, in)
		}
	}
	registry.SortInstances(out)
	return out
}

func sameProviderKey(in *registry.Instance) string {
	e, ok := in.Endpoint("tri", "grpc")
	if !ok {
		return "id\x00" + in.ID
	}
	return e.Addr() + "\x00" + in.Metadata[KeyGroup] + "\x00" + in.Version
}
