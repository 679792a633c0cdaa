package dubbo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// ErrInvalidInstance is wrapped by the errors of ParseAppInstance and of the AppInstance
// accessors that decode a metadata value: the registry holds something that is not a Dubbo
// application-level instance.
var ErrInvalidInstance = errors.New("dubbo: invalid application instance")

// The keys of an application-level instance's metadata that Dubbo 3.3 writes and reads.
const (
	// MetaRevision is the revision of the application's MetadataInfo (see
	// MetadataInfo.Revision); consumers skip an instance without one or with NoRevision.
	MetaRevision = "dubbo.metadata.revision"
	// MetaStorageType says where consumers get the metadata: StorageLocal, from the
	// instance's MetadataService; "remote", from the metadata report.
	MetaStorageType = "dubbo.metadata.storage-type"
	// MetaServiceURLParams is a JSON object of strings naming the MetadataService's
	// protocol and port (and version, dubbo, release, side); see URLParams.
	MetaServiceURLParams = "dubbo.metadata-service.url-params"
	// MetaEndpoints is a JSON array of {"port", "protocol"}, the port of each protocol; see
	// Endpoints.
	MetaEndpoints = "dubbo.endpoints"
	// MetaVersion is the MetadataService version consumers call: MetadataServiceV2 makes a
	// Dubbo 3.3 consumer call MetadataServiceV2 over Triple with protobuf, which is what
	// Tianshu serves; anything else makes it call the hessian2 MetadataService.
	MetaVersion = "meta-v"
	// MetaTimestamp is the instance's start in milliseconds since the epoch; Dubbo's
	// balancers warm an instance up for ten minutes from it.
	MetaTimestamp = "timestamp"
)

const (
	// StorageLocal is the MetaStorageType of an instance that serves its own metadata,
	// Dubbo's default and Tianshu's.
	StorageLocal = "local"
	// MetadataServiceV2 is the MetaVersion of an instance serving MetadataServiceV2.
	MetadataServiceV2 = "2.0.0"
	// ZookeeperInstanceClass is the Jackson type id of the payload of a ZooKeeper instance
	// node; Curator's Java reader needs it to read the payload at all.
	ZookeeperInstanceClass = "org.apache.dubbo.registry.zookeeper.ZookeeperInstance"
)

// AppInstance is one instance of a provider application as Dubbo 3 announces it, in
// ZooKeeper the Curator ServiceInstance at /services/<App>/<ID>.
type AppInstance struct {
	// App is the application name.
	App string
	// ID is host:port, unique within the application.
	ID string
	// Host and Port are the instance's address.
	Host string
	Port int
	// Metadata holds the Meta* keys and whatever else the provider announces.
	Metadata map[string]string
	// Registered is when the node was written; Curator records it to the millisecond, and
	// the zero time is written as 0.
	Registered time.Time
}

// Endpoint is the port of one protocol of an instance, an entry of MetaEndpoints.
type Endpoint struct {
	// Port is the port the protocol is served on.
	Port int `json:"port"`
	// Protocol is Dubbo's protocol name, "tri" for Triple.
	Protocol string `json:"protocol"`
}

// NewAppInstance returns the instance Tianshu announces for app at host:port serving the
// metadata of the given revision over MetadataServiceV2 on the same port, Triple being
// its only protocol; started is the instance's start, from which Dubbo's balancers warm it
// up. The metadata has the keys and values a Java Dubbo 3.3 provider writes.
func NewAppInstance(app, host string, port int, revision string, started time.Time) (AppInstance, error) {
	in := AppInstance{App: app, ID: net.JoinHostPort(host, strconv.Itoa(port)), Host: host, Port: port}
	if err := in.validate(); err != nil {
		return AppInstance{}, err
	}
	if revision == "" {
		return AppInstance{}, fmt.Errorf("%w: no revision", ErrInvalidInstance)
	}
	p := strconv.Itoa(port)
	in.Metadata = map[string]string{
		MetaEndpoints: marshalString([]Endpoint{{Port: port, Protocol: "tri"}}),
		MetaServiceURLParams: marshalString(map[string]string{
			"dubbo": ProtocolVersion, "port": p, "protocol": "tri", "release": Release,
			"side": "provider", "version": MetadataServiceV2,
		}),
		MetaRevision:    revision,
		MetaStorageType: StorageLocal,
		MetaVersion:     MetadataServiceV2,
		MetaTimestamp:   strconv.FormatInt(started.UnixMilli(), 10),
	}
	return in, nil
}

// marshalString encodes values that cannot fail to encode, as Jackson would (no HTML
// escaping), since Java writes and reads these strings.
func marshalString(v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		panic(err) // only called with slices of Endpoint and string maps
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func (in AppInstance) validate() error {
	switch {
	case in.App == "":
		return fmt.Errorf("%w: no application name", ErrInvalidInstance)
	case in.Host == "":
		return fmt.Errorf("%w %q: no address", ErrInvalidInstance, in.App)
	case in.Port < 1 || in.Port > 65535:
		return fmt.Errorf("%w %q: port %d out of range", ErrInvalidInstance, in.App, in.Port)
	}
	return nil
}

// Revision is the instance's MetaRevision, empty when it has none.
func (in AppInstance) Revision() string { return in.Metadata[MetaRevision] }

// Endpoints decodes MetaEndpoints; nil when the instance has none.
func (in AppInstance) Endpoints() ([]Endpoint, error) {
	s, ok := in.Metadata[MetaEndpoints]
	if !ok {
		return nil, nil
	}
	var eps []Endpoint
	if err := json.Unmarshal([]byte(s), &eps); err != nil {
		return nil, fmt.Errorf("%w %s: %s: %w", ErrInvalidInstance, in.ID, MetaEndpoints, err)
	}
	return eps, nil
}

// URLParams decodes MetaServiceURLParams, the parameters of the instance's MetadataService
// URL; nil when the instance has none. Dubbo writes every value as a string, the port too.
func (in AppInstance) URLParams() (map[string]string, error) {
	s, ok := in.Metadata[MetaServiceURLParams]
	if !ok {
		return nil, nil
	}
	var p map[string]string
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("%w %s: %s: %w", ErrInvalidInstance, in.ID, MetaServiceURLParams, err)
	}
	return p, nil
}

// curatorInstance is Curator 5's ServiceInstance as its JsonInstanceSerializer writes it;
// the field order is Java's, which readers do not need but people comparing nodes like.
type curatorInstance struct {
	Name                string          `json:"name"`
	ID                  string          `json:"id"`
	Address             string          `json:"address"`
	Port                *int            `json:"port"`
	SSLPort             *int            `json:"sslPort"`
	Payload             *curatorPayload `json:"payload"`
	RegistrationTimeUTC int64           `json:"registrationTimeUTC"`
	ServiceType         string          `json:"serviceType"`
	URISpec             json.RawMessage `json:"uriSpec"`
}

type curatorPayload struct {
	Class    string            `json:"@class"`
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata"`
}

// maxNodeLen bounds what ParseAppInstance reads; ZooKeeper's own limit on node data is 1 MiB.
const maxNodeLen = 1 << 20

// MarshalCurator encodes the instance as the data of its ZooKeeper node, the Curator JSON a
// Java Dubbo provider writes: an ephemeral ("DYNAMIC") instance whose payload names
// ZookeeperInstanceClass.
func (in AppInstance) MarshalCurator() ([]byte, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	port := in.Port
	var registered int64
	if !in.Registered.IsZero() {
		registered = in.Registered.UnixMilli()
	}
	md := in.Metadata
	if md == nil {
		md = map[string]string{}
	}
	c := curatorInstance{
		Name: in.App, ID: in.ID, Address: in.Host, Port: &port,
		Payload:             &curatorPayload{Class: ZookeeperInstanceClass, ID: in.ID, Name: in.App, Metadata: md},
		RegistrationTimeUTC: registered,
		ServiceType:         "DYNAMIC",
		URISpec:             json.RawMessage("null"),
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // Jackson does not escape <, > and &
	if err := e.Encode(c); err != nil {
		return nil, fmt.Errorf("dubbo: encoding instance %s: %w", in.ID, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ParseAppInstance decodes the data of a ZooKeeper instance node, as Java Dubbo or
// MarshalCurator wrote it. Fields it does not know are ignored, as Curator's reader ignores
// them. The error wraps ErrInvalidInstance when the data is not such an instance.
func ParseAppInstance(data []byte) (AppInstance, error) {
	if len(data) > maxNodeLen {
		return AppInstance{}, fmt.Errorf("%w: %d bytes, over %d", ErrInvalidInstance, len(data), maxNodeLen)
	}
	var c curatorInstance
	if err := json.Unmarshal(data, &c); err != nil {
		return AppInstance{}, fmt.Errorf("%w: %w", ErrInvalidInstance, err)
	}
	in := AppInstance{App: c.Name, ID: c.ID, Host: c.Address}
	if c.Port != nil {
		in.Port = *c.Port
	}
	if c.RegistrationTimeUTC != 0 {
		in.Registered = time.UnixMilli(c.RegistrationTimeUTC)
	}
	if c.Payload != nil {
		in.Metadata = c.Payload.Metadata
	}
	if err := in.validate(); err != nil {
		return AppInstance{}, err
	}
	if in.ID == "" {
		in.ID = net.JoinHostPort(in.Host, strconv.Itoa(in.Port))
	}
	return in, nil
}
