package eureka

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/tianshu-go/tianshu/registry"
)

// Status is an instance's status in Eureka. Only StatusUp instances are discovered, by this
// package and by Spring Cloud's clients.
type Status string

// The statuses an instance may be given.
const (
	StatusUp           Status = "UP"
	StatusDown         Status = "DOWN"
	StatusStarting     Status = "STARTING"
	StatusOutOfService Status = "OUT_OF_SERVICE"
)

func (s Status) valid() bool {
	return s == StatusUp || s == StatusDown || s == StatusStarting || s == StatusOutOfService
}

// Metadata keys this package writes into an instance's Eureka metadata, besides the
// instance's own Metadata, which may not use them.
const (
	// MetaEndpoints lists the instance's endpoints, comma-separated, in
	// registry.Endpoint's scheme://host:port form: the whole truth for Tianshu
	// consumers, whatever port and securePort say.
	MetaEndpoints = "tianshu.endpoints"
	// MetaVersion is registry.Instance.Version.
	MetaVersion = "tianshu.version"
	// MetaWeight is registry.Instance.Weight, when positive.
	MetaWeight = "tianshu.weight"
	// MetaZone is registry.Instance.Zone, under the key Spring Cloud's zone-preference
	// load balancing reads.
	MetaZone = "zone"
	// MetaGRPCPort is the port of the instance's first grpc endpoint, under the key the
	// Java gRPC Spring Boot starters (net.devh grpc-spring-boot-starter) look up, so that
	// their clients find a Tianshu gRPC server; read back from Java instances too.
	MetaGRPCPort = "gRPC_port"
	// metaClass is the Jackson type tag Eureka writes into empty metadata maps.
	metaClass = "@class"
)

func reservedKey(k string) bool {
	return strings.HasPrefix(k, "tianshu.") || k == MetaZone || k == MetaGRPCPort || k == metaClass
}

// portJSON is Eureka's {"$": 8080, "@enabled": "true"}.
type portJSON struct {
	Port    flexInt  `json:"$"`
	Enabled flexBool `json:"@enabled"`
}

type dataCenterJSON struct {
	Class string `json:"@class"`
	Name  string `json:"name"`
}

type leaseJSON struct {
	RenewalIntervalInSecs int `json:"renewalIntervalInSecs"`
	DurationInSecs        int `json:"durationInSecs"`
}

// instanceJSON is the part of Eureka's InstanceInfo this package writes and reads.
type instanceJSON struct {
	InstanceID         string          `json:"instanceId"`
	HostName           string          `json:"hostName"`
	App                string          `json:"app"`
	IPAddr             string          `json:"ipAddr"`
	Status             Status          `json:"status"`
	OverriddenStatus   Status          `json:"overriddenStatus,omitempty"`
	Port               *portJSON       `json:"port,omitempty"`
	SecurePort         *portJSON       `json:"securePort,omitempty"`
	CountryID          int             `json:"countryId,omitempty"`
	DataCenterInfo     *dataCenterJSON `json:"dataCenterInfo,omitempty"`
	LeaseInfo          *leaseJSON      `json:"leaseInfo,omitempty"`
	Metadata           metadataJSON    `json:"metadata,omitempty"`
	HomePageURL        string          `json:"homePageUrl,omitempty"`
	StatusPageURL      string          `json:"statusPageUrl,omitempty"`
	HealthCheckURL     string          `json:"healthCheckUrl,omitempty"`
	VIPAddress         string          `json:"vipAddress,omitempty"`
	SecureVIPAddress   string          `json:"secureVipAddress,omitempty"`
	LastDirtyTimestamp flexInt         `json:"lastDirtyTimestamp,omitempty"`
	LastUpdated        flexInt         `json:"lastUpdatedTimestamp,omitempty"`
	ActionType         string          `json:"actionType,omitempty"`
}

// id is the instance's key within its application: instanceId, or the host name for
// clients too old to send one (Eureka does the same).
func (i *instanceJSON) id() string {
	if i.InstanceID != "" {
		return i.InstanceID
	}
	return i.HostName
}

type applicationJSON struct {
	Name     string                  `json:"name"`
	Instance flexList[*instanceJSON] `json:"instance"`
}

type applicationsJSON struct {
	VersionsDelta flexString                 `json:"versions__delta"`
	AppsHashcode  string                     `json:"apps__hashcode"`
	Application   flexList[*applicationJSON] `json:"application"`
}

// flexList reads a JSON array, or a single object where an older server's converter wrote
// one element without its array.
type flexList[T any] []T

func (l *flexList[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, (*[]T)(l))
	}
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*l = flexList[T]{one}
	return nil
}

// flexInt reads a number given as a JSON number or a string ("lastDirtyTimestamp":
// "1700000000000"), and writes a string, as Eureka does.
type flexInt int64

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("number %s: %w", b, err)
	}
	*n = flexInt(v)
	return nil
}

func (n flexInt) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

// flexBool reads true/false given as a JSON boolean or a string, and writes a string.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	switch s {
	case "true":
		*v = true
	case "false", "", "null":
		*v = false
	default:
		return fmt.Errorf("boolean %s", b)
	}
	return nil
}

func (v flexBool) MarshalJSON() ([]byte, error) {
	if v {
		return []byte(`"true"`), nil
	}
	return []byte(`"false"`), nil
}

// flexString reads a string or a number as a string.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, (*string)(s))
	}
	*s = flexString(b)
	return nil
}

// metadataJSON is an instance's metadata. Eureka writes an empty map as
// {"@class":"java.util.Collections$EmptyMap"}, and other clients may put numbers or
// booleans in; values are kept as their text, and the type tag is dropped.
type metadataJSON map[string]string

func (m *metadataJSON) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(metadataJSON, len(raw))
	for k, v := range raw {
		if k == metaClass {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v)
		}
		out[k] = s
	}
	*m = out
	return nil
}

// appName is the application name Eureka stores a service under: upper case (Eureka
// upper-cases it on registration and on lookup, so service names differing only in case
// are one application).
func appName(service string) string { return strings.ToUpper(service) }

// encodeInstance turns a validated instance into the InstanceInfo registered for it. How a
// Tianshu instance appears to Spring is in the package documentation.
func encodeInstance(in *registry.Instance, o *options, status Status, dirty int64) (*instanceJSON, error) {
	for k := range in.Metadata {
		if reservedKey(k) {
			return nil, fmt.Errorf("%w: instance %q of %q: metadata key %q is reserved by the Eureka backend (tianshu.*, zone, gRPC_port, @class)", registry.ErrInvalidInstance, in.ID, in.Service, k)
		}
	}
	httpEP, hasHTTP := in.Endpoint("http")
	httpsEP, hasHTTPS := in.Endpoint("https")
	primary := in.Endpoints[0]
	switch {
	case hasHTTP:
		primary = httpEP
	case hasHTTPS:
		primary = httpsEP
	}
	meta := maps.Clone(map[string]string(in.Metadata))
	if meta == nil {
		meta = map[string]string{}
	}
	eps := make([]string, len(in.Endpoints))
	for i, e := range in.Endpoints {
		eps[i] = e.String()
	}
	meta[MetaEndpoints] = strings.Join(eps, ",")
	if in.Version != "" {
		meta[MetaVersion] = in.Version
	}
	if in.Weight > 0 {
		meta[MetaWeight] = strconv.Itoa(in.Weight)
	}
	if in.Zone != "" {
		meta[MetaZone] = in.Zone
	}
	if g, ok := in.Endpoint("grpc"); ok {
		meta[MetaGRPCPort] = strconv.Itoa(g.Port)
	}
	info := &instanceJSON{
		InstanceID:         in.ID,
		HostName:           primary.Host,
		App:                appName(in.Service),
		IPAddr:             primary.Host,
		Status:             status,
		OverriddenStatus:   "UNKNOWN",
		Port:               &portJSON{Port: flexInt(primary.Port), Enabled: flexBool(hasHTTP)},
		SecurePort:         &portJSON{Port: 443, Enabled: false},
		CountryID:          1,
		DataCenterInfo:     &dataCenterJSON{Class: "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", Name: "MyOwn"},
		LeaseInfo:          &leaseJSON{RenewalIntervalInSecs: int(o.renewal.Seconds()), DurationInSecs: int(o.lease.Seconds())},
		Metadata:           meta,
		VIPAddress:         in.Service,
		SecureVIPAddress:   in.Service,
		LastDirtyTimestamp: flexInt(dirty),
	}
	if hasHTTPS {
		info.SecurePort = &portJSON{Port: flexInt(httpsEP.Port), Enabled: true}
	}
	if hasHTTP || hasHTTPS {
		base := primary.String()
		info.HomePageURL = base + "/"
		info.StatusPageURL = base + "/"
		info.HealthCheckURL = base + o.healthPath
	}
	return info, nil
}

// decodeInstance turns an InstanceInfo of the application service is stored under into a
// registry.Instance whose Service is service. ok is false for an instance that is not UP;
// an error means the instance cannot be used (no usable endpoint, a bad ID).
func decodeInstance(service string, info *instanceJSON) (in *registry.Instance, ok bool, err error) {
	if info.Status != StatusUp {
		return nil, false, nil
	}
	in = &registry.Instance{ID: info.id(), Service: service}
	meta := map[string]string{}
	for k, v := range info.Metadata {
		if !reservedKey(k) {
			meta[k] = v
		}
	}
	if len(meta) > 0 {
		in.Metadata = meta
	}
	in.Zone = info.Metadata[MetaZone]
	if eps, tianshu := info.Metadata[MetaEndpoints]; tianshu {
		in.Version = info.Metadata[MetaVersion]
		if w := info.Metadata[MetaWeight]; w != "" {
			if in.Weight, err = strconv.Atoi(w); err != nil || in.Weight < 0 {
				return nil, false, fmt.Errorf("%w: instance %q of %s: %s %q is not a weight", ErrBadResponse, in.ID, info.App, MetaWeight, w)
			}
		}
		for _, s := range strings.Split(eps, ",") {
			e, err := registry.ParseEndpoint(s)
			if err != nil {
				return nil, false, fmt.Errorf("instance %q of %s: %s: %w", in.ID, info.App, MetaEndpoints, err)
			}
			in.Endpoints = append(in.Endpoints, e)
		}
	} else {
		in.Endpoints = foreignEndpoints(info)
	}
	if err := in.Validate(); err != nil {
		return nil, false, err
	}
	return in, true, nil
}

// foreignEndpoints derives the endpoints of an instance another client registered (a
// Spring Boot application) from its enabled ports, as Spring's own clients do, with the
// host Spring's clients call (hostName, which is the IP address under
// eureka.instance.prefer-ip-address), and its gRPC port when a Java gRPC starter announced
// one.
func foreignEndpoints(info *instanceJSON) []registry.Endpoint {
	host := info.HostName
	if host == "" {
		host = info.IPAddr
	}
	host = strings.Trim(host, "[]")
	var eps []registry.Endpoint
	if p := info.SecurePort; p != nil && bool(p.Enabled) {
		eps = append(eps, registry.Endpoint{Scheme: "https", Host: host, Port: int(p.Port)})
	}
	if p := info.Port; p != nil && bool(p.Enabled) {
		eps = append(eps, registry.Endpoint{Scheme: "http", Host: host, Port: int(p.Port)})
	}
	if g, err := strconv.Atoi(info.Metadata[MetaGRPCPort]); err == nil {
		eps = append(eps, registry.Endpoint{Scheme: "grpc", Host: host, Port: g})
	}
	return eps
}

// parseApplications reads the body of GET /apps or /apps/delta.
func parseApplications(b []byte) (*applicationsJSON, error) {
	var doc struct {
		Applications *applicationsJSON `json:"applications"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: applications: %w", ErrBadResponse, err)
	}
	if doc.Applications == nil {
		return nil, fmt.Errorf("%w: no \"applications\" object in %.80q", ErrBadResponse, b)
	}
	for _, app := range doc.Applications.Application {
		if app == nil {
			return nil, fmt.Errorf("%w: null application", ErrBadResponse)
		}
		for _, in := range app.Instance {
			if in == nil {
				return nil, fmt.Errorf("%w: null instance in application %q", ErrBadResponse, app.Name)
			}
		}
	}
	return doc.Applications, nil
}

// parseApplication reads the body of GET /apps/{APP}.
func parseApplication(b []byte) (*applicationJSON, error) {
	var doc struct {
		Application *applicationJSON `json:"application"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: application: %w", ErrBadResponse, err)
	}
	if doc.Application == nil {
		return nil, fmt.Errorf("%w: no \"application\" object in %.80q", ErrBadResponse, b)
	}
	for _, in := range doc.Application.Instance {
		if in == nil {
			return nil, fmt.Errorf("%w: null instance in application %q", ErrBadResponse, doc.Application.Name)
		}
	}
	return doc.Application, nil
}

// reconcileHash is Eureka's apps__hashcode of a set of instances: each status with its
// count, in the statuses' alphabetical order, as STATUS_count_ (such as "DOWN_1_UP_3_").
func reconcileHash(apps map[string]map[string]*instanceJSON) string {
	counts := map[Status]int{}
	for _, app := range apps {
		for _, in := range app {
			counts[in.Status]++
		}
	}
	statuses := slices.Collect(maps.Keys(counts))
	sort.Slice(statuses, func(i, j int) bool { return statuses[i] < statuses[j] })
	var b strings.Builder
	for _, s := range statuses {
		fmt.Fprintf(&b, "%s_%d_", s, counts[s])
	}
	return b.String()
}
