package dubbo

import (
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ServiceInfo is one service of a provider application's metadata, as Dubbo's
// MetadataInfo.ServiceInfo models it: what a consumer needs to build the service's URL on
// an instance of the application.
type ServiceInfo struct {
	// Name is the interface name.
	Name string
	// Group and Version are the Dubbo group and version; empty when the service has none.
	Group   string
	Version string
	// Protocol is the protocol the service is exported on, "tri" for Triple.
	Protocol string
	// Port is the port the service is exported on.
	Port int
	// Path is the URL path, normally the interface name.
	Path string
	// Params are the exported URL's parameters that Dubbo keeps (see FilterParams).
	Params map[string]string
}

// ServiceKey is Dubbo's service key, [group/]interface[:version].
func (s ServiceInfo) ServiceKey() string {
	k := s.Name
	if s.Group != "" {
		k = s.Group + "/" + k
	}
	if s.Version != "" {
		k += ":" + s.Version
	}
	return k
}

// MatchKey is the service key and the protocol, the key of the service in
// MetadataInfo.Services and in the MetadataServiceV2 answer.
func (s ServiceInfo) MatchKey() string { return s.ServiceKey() + ":" + s.Protocol }

// ServiceInfoOf returns the ServiceInfo Dubbo's provider records for an exported URL: the
// interface from the interface parameter (else the path), group and version from their
// parameters, and the parameters that FilterParams keeps.
func ServiceInfoOf(u URL) ServiceInfo {
	name := u.Params[KeyInterface]
	if name == "" {
		name = u.Path
	}
	return ServiceInfo{
		Name:     name,
		Group:    u.Params[KeyGroup],
		Version:  u.Params[KeyVersion],
		Protocol: u.Protocol,
		Port:     u.Port,
		Path:     u.Path,
		Params:   FilterParams(u.Params),
	}
}

// excludedParams are the keys Dubbo's DefaultMetadataParamsFilter keeps out of a service's
// metadata: they vary per process or per instance, and would give each instance its own
// revision. timestamp goes to the instance's metadata instead.
var excludedParams = [...]string{
	"monitor", "bind.ip", "bind.port", "qos.enable", "qos.host", "qos.port",
	"qos.accept.foreign.ip", "validation", "interfaces", "pid", "timestamp",
	"heartbeat.timeout", "ipv6",
}

// FilterParams returns a copy of URL parameters without those Dubbo's default metadata
// filter drops: a key goes when it equals an excluded key ignoring case, or contains "."
// followed by one (so "greet.timestamp" goes with "timestamp"). anyhost stays.
func FilterParams(params map[string]string) map[string]string {
	out := make(map[string]string, len(params))
	for k, v := range params {
		if !excludedParam(k) {
			out[k] = v
		}
	}
	return out
}

func excludedParam(k string) bool {
	for _, ex := range excludedParams {
		if strings.EqualFold(k, ex) || strings.Contains(k, "."+ex) {
			return true
		}
	}
	return false
}

// MetadataInfo is the metadata of a provider application, as Dubbo's MetadataInfo models
// it: the services it serves, keyed by their match key. Its revision, which every instance
// announces, names it.
type MetadataInfo struct {
	// App is the application name.
	App string
	// Services maps each service's MatchKey to it.
	Services map[string]ServiceInfo
}

// NewMetadataInfo returns the metadata of app serving services, each keyed by its match key
// (a later service with the same key replaces an earlier one, as in Dubbo).
func NewMetadataInfo(app string, services ...ServiceInfo) MetadataInfo {
	m := MetadataInfo{App: app, Services: make(map[string]ServiceInfo, len(services))}
	for _, s := range services {
		m.Services[s.MatchKey()] = s
	}
	return m
}

// NoRevision is the revision of metadata without services, which consumers skip.
const NoRevision = "0"

// Revision computes the revision exactly as Dubbo's MetadataInfo.calRevision does, so that
// Java consumers, which cache metadata by revision and check their disk cache against it,
// agree with Tianshu: the lower-case hex MD5 of the app name followed, for each service in
// the order of its key, by its descString (match key, port, path and the params as Java's
// TreeMap prints them), with nothing between services. It is NoRevision when there is no
// service.
func (m MetadataInfo) Revision() string {
	if len(m.Services) == 0 {
		return NoRevision
	}
	descs := make(map[string]string, len(m.Services))
	for k, s := range m.Services {
		descs[k] = s.descString()
	}
	return revisionOf(m.App, descs)
}

// revisionOf is Revision given each service's descString by match key.
func revisionOf(app string, descs map[string]string) string {
	if len(descs) == 0 {
		return NoRevision
	}
	n := len(app)
	for _, d := range descs {
		n += len(d)
	}
	b := make([]byte, 0, n)
	b = append(b, app...)
	for _, k := range sortedJava(descs) {
		b = append(b, descs[k]...)
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// descString is Dubbo's ServiceInfo.toDescString.
func (s ServiceInfo) descString() string {
	var b strings.Builder
	b.WriteString(s.MatchKey())
	b.WriteString(strconv.Itoa(s.Port))
	b.WriteString(s.Path)
	b.WriteByte('{')
	for i, k := range sortedJava(s.Params) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(s.Params[k])
	}
	b.WriteByte('}')
	return b.String()
}

// sortedJava returns the keys of m in the order of Java's String.compareTo, which compares
// UTF-16 code units: the same as Go's byte order except where a character above U+FFFF
// meets one in U+E000..U+FFFF, which the revision must still order as Java does.
func sortedJava[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareJava)
	return keys
}

func compareJava(a, b string) int {
	// Equal bytes decode alike, and an ASCII byte is a character of its own in any UTF-8,
	// valid or not: a first difference between two ASCII bytes decides, as it does in
	// UTF-16. Anything else is decoded from the last ASCII byte of the common prefix on.
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i < len(a) && i < len(b) && a[i] < utf8.RuneSelf && b[i] < utf8.RuneSelf {
		return cmpInt(int(a[i]), int(b[i]))
	}
	for i > 0 && a[i-1] >= utf8.RuneSelf {
		i--
	}
	a, b = a[i:], b[i:]
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			// A character above U+FFFF is a surrogate pair in Java, whose first unit
			// (0xD800..0xDBFF) sorts below U+E000..U+FFFF; two such characters whose
			// first units agree compare as their code points do.
			if ua, ub := firstUnit(ra), firstUnit(rb); ua != ub {
				return cmpInt(ua, ub)
			}
			return cmpInt(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmpInt(len(a), len(b))
}

func firstUnit(r rune) rune {
	if r > 0xFFFF {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}

func cmpInt[T int | rune](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
