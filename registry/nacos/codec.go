package nacos

import (
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/nacos-group/nacos-sdk-go/v2/model"

	"github.com/tianshu-go/tianshu/registry"
)

// Metadata keys under which a Tianshu instance keeps the fields Nacos has no place for.
// Consumers in other languages may read them; user metadata must not use the "tianshu."
// prefix.
const (
	// MetaID holds Instance.ID (Nacos identifies an instance by ip:port:cluster instead).
	MetaID = "tianshu.id"
	// MetaVersion holds Instance.Version.
	MetaVersion = "tianshu.version"
	// MetaZone holds Instance.Zone.
	MetaZone = "tianshu.zone"
	// MetaEndpoints holds every endpoint, comma-separated, as scheme://host:port. The Nacos
	// ip and port are the primary endpoint's.
	MetaEndpoints = "tianshu.endpoints"
	// MetaAdded lists, comma-separated, the metadata keys Tianshu added for other readers
	// (Dubbo's URL parameters), so that they are not read back as the instance's own.
	MetaAdded = "tianshu.added"

	metaPrefix = "tianshu."
)

// Values Nacos fills in when a client leaves them empty; Tianshu always sends them.
const (
	DefaultGroup     = "DEFAULT_GROUP"
	DefaultCluster   = "DEFAULT"
	DefaultNamespace = "public"
)

// primary returns the endpoint that becomes the Nacos ip:port: the first one a gRPC client
// speaks, else the first one.
func primary(in *registry.Instance) registry.Endpoint {
	if e, ok := in.Endpoint("grpc", "grpcs", "tri"); ok {
		return e
	}
	return in.Endpoints[0]
}

// toNacos maps a valid instance onto a Nacos instance. Every field Nacos would read as
// "off" when left at its zero value is set explicitly: Enable, Healthy, Ephemeral, a
// positive Weight and a cluster name.
func toNacos(in *registry.Instance, cluster string, extra map[string]string) (model.Instance, error) {
	for k := range in.Metadata {
		if strings.HasPrefix(k, metaPrefix) {
			return model.Instance{}, fmt.Errorf("%w: instance %q of %q: metadata key %q uses the reserved prefix %q",
				registry.ErrInvalidInstance, in.ID, in.Service, k, metaPrefix)
		}
	}
	p := primary(in)
	md := make(map[string]string, len(in.Metadata)+len(extra)+5)
	var added []string
	for k, v := range extra {
		if _, own := in.Metadata[k]; !own {
			md[k] = v
			added = append(added, k)
		}
	}
	if len(added) > 0 {
		slices.Sort(added)
		md[MetaAdded] = strings.Join(added, ",")
	}
	maps.Copy(md, in.Metadata)
	md[MetaID] = in.ID
	eps := make([]string, len(in.Endpoints))
	for i, e := range in.Endpoints {
		eps[i] = e.String()
	}
	md[MetaEndpoints] = strings.Join(eps, ",")
	if in.Version != "" {
		md[MetaVersion] = in.Version
	}
	if in.Zone != "" {
		md[MetaZone] = in.Zone
	}
	return model.Instance{
		Ip:          p.Host,
		Port:        uint64(p.Port),
		Weight:      float64(in.EffectiveWeight()),
		Enable:      true,
		Healthy:     true,
		Ephemeral:   true,
		ClusterName: cluster,
		Metadata:    md,
	}, nil
}

// fromNacos reads a Nacos instance of the service called service. Instances Tianshu
// registered come back exactly; others are read by convention:
//
//   - Dubbo providers (metadata "side" or "protocol"): one endpoint whose scheme is the
//     "protocol" parameter (default "dubbo"), Version from "version", the URL parameters as
//     Metadata;
//   - Spring Cloud Alibaba and other plain registrations: an "http" endpoint ("https" when
//     metadata "secure" is true), plus a "grpc" endpoint when metadata "gRPC_port" or
//     "gRPC.port" names one (grpc-spring-boot-starter's convention); Version and Zone from
//     "version" and "zone".
//
// A foreign instance's ID is ip:port, prefixed with "<cluster>@" outside the default cluster.
// An entry that cannot be used gives an error saying why.
func fromNacos(service string, h model.Instance) (*registry.Instance, error) {
	md := h.Metadata
	out := &registry.Instance{
		Service: service,
		Weight:  int(math.Round(h.Weight)),
	}
	if out.Weight <= 0 {
		out.Weight = 1
	}
	if id, ok := md[MetaID]; ok {
		out.ID, out.Version, out.Zone = id, md[MetaVersion], md[MetaZone]
		for s := range strings.SplitSeq(md[MetaEndpoints], ",") {
			if s == "" {
				continue
			}
			e, err := registry.ParseEndpoint(s)
			if err != nil {
				return nil, err
			}
			out.Endpoints = append(out.Endpoints, e)
		}
		added := strings.Split(md[MetaAdded], ",")
		for k, v := range md {
			if !strings.HasPrefix(k, metaPrefix) && !slices.Contains(added, k) {
				if out.Metadata == nil {
					out.Metadata = map[string]string{}
				}
				out.Metadata[k] = v
			}
		}
	} else {
		out.ID = net.JoinHostPort(h.Ip, strconv.FormatUint(h.Port, 10))
		if h.ClusterName != "" && h.ClusterName != DefaultCluster {
			out.ID = h.ClusterName + "@" + out.ID
		}
		out.Version, out.Zone = md["version"], md["zone"]
		if len(md) > 0 {
			// Keys under Tianshu's prefix are its wire fields, never user metadata: in an
			// entry without MetaID they are a half-written or hand-made copy, and passing
			// them on would give consumers an instance no Registry would accept.
			out.Metadata = maps.Clone(md)
			maps.DeleteFunc(out.Metadata, func(k, _ string) bool { return strings.HasPrefix(k, metaPrefix) })
		}
		out.Endpoints = foreignEndpoints(h)
	}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return out, nil
}

func foreignEndpoints(h model.Instance) []registry.Endpoint {
	md := h.Metadata
	port := int(h.Port)
	if md["side"] != "" || md["protocol"] != "" {
		scheme := md["protocol"]
		if scheme == "" {
			scheme = "dubbo"
		}
		return []registry.Endpoint{{Scheme: scheme, Host: h.Ip, Port: port}}
	}
	scheme := "http"
	if strings.EqualFold(md["secure"], "true") {
		scheme = "https"
	}
	eps := []registry.Endpoint{{Scheme: scheme, Host: h.Ip, Port: port}}
	for _, k := range []string{"gRPC_port", "gRPC.port"} {
		if p, err := strconv.Atoi(md[k]); err == nil && p > 0 {
			eps = append([]registry.Endpoint{{Scheme: "grpc", Host: h.Ip, Port: p}}, eps...)
			break
		}
	}
	return eps
}

// usable reports whether Nacos would send traffic to the instance: enabled, healthy and with a
// positive weight. The SDK's SelectInstances(HealthyOnly=false) returns only the unhealthy
// ones, so Tianshu filters the full list itself.
func usable(h model.Instance) bool { return h.Enable && h.Healthy && h.Weight > 0 }
