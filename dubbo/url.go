package dubbo

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidURL is wrapped by the errors of ParseURL and ParseNodeName for text that is not
// a Dubbo URL this package can read.
var ErrInvalidURL = errors.New("dubbo: invalid URL")

// URL is a Dubbo URL, protocol://host:port/path?key=value&..., as Dubbo providers publish
// themselves. Parameter values are kept as written: Dubbo does not percent-encode them.
type URL struct {
	// Protocol is the URL scheme: "tri" for Triple (gRPC-compatible), "dubbo", "rest", ...
	Protocol string
	// Host is an IP address or host name, without brackets for IPv6.
	Host string
	// Port is the TCP port, 1 to 65535; 0 in a consumer's URL, which has none.
	Port int
	// Path is the service path, usually the interface name, without the leading slash.
	Path string
	// Params are the URL parameters; Dubbo gives each key one value.
	Params map[string]string
}

// maxURLLen bounds what ParseURL reads: ZooKeeper node names and Nacos metadata are far
// shorter, and a bound keeps a hostile registry entry from costing much.
const maxURLLen = 64 << 10

// ParseURL parses a Dubbo URL. It rejects user information, fragments, a missing host or
// port, and parameters without a key; a parameter given twice keeps its last value, as
// Dubbo does.
func ParseURL(s string) (URL, error) {
	if len(s) > maxURLLen {
		return URL{}, fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidURL, len(s), maxURLLen)
	}
	proto, rest, ok := strings.Cut(s, "://")
	if !ok {
		return URL{}, fmt.Errorf("%w: %.80q has no protocol://", ErrInvalidURL, s)
	}
	if !validProtocol(proto) {
		return URL{}, fmt.Errorf("%w: %.80q: protocol %q is not a word such as tri", ErrInvalidURL, s, proto)
	}
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if strings.ContainsAny(authority, "@#") || strings.Contains(query, "#") || strings.Contains(path, "#") {
		return URL{}, fmt.Errorf("%w: %.80q: user information and fragments are not supported", ErrInvalidURL, s)
	}
	host, portText, err := net.SplitHostPort(authority)
	if err != nil {
		return URL{}, fmt.Errorf("%w: %.80q: want protocol://host:port: %w", ErrInvalidURL, s, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 || portText != strconv.Itoa(port) {
		return URL{}, fmt.Errorf("%w: %.80q: port %q is not a number in 1-65535", ErrInvalidURL, s, portText)
	}
	if !validHost(host) {
		return URL{}, fmt.Errorf("%w: %.80q: host %q is neither an IP address nor a host name", ErrInvalidURL, s, host)
	}
	if !validText(path, "?") {
		return URL{}, fmt.Errorf("%w: %.80q: path %q has spaces or control characters", ErrInvalidURL, s, path)
	}
	u := URL{Protocol: proto, Host: host, Port: port, Path: path}
	if query != "" {
		u.Params = map[string]string{}
		for pair := range strings.SplitSeq(query, "&") {
			if pair == "" {
				continue // a trailing or doubled &
			}
			k, v, _ := strings.Cut(pair, "=")
			if err := checkParam(k, v); err != nil {
				return URL{}, fmt.Errorf("%.80q: %w", s, err)
			}
			u.Params[k] = v
		}
	}
	return u, nil
}

func validProtocol(p string) bool {
	if p == "" || len(p) > 32 {
		return false
	}
	for i, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
		if !ok {
			return false
		}
	}
	return true
}

func validHost(h string) bool {
	if h == "" {
		return false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validText reports whether s has no space, control character or one of the bytes in
// forbidden; such text would not survive a round trip through a URL written unescaped.
func validText(s, forbidden string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '#' || r == '\uFFFD' || strings.ContainsRune(forbidden, r) {
			return false
		}
	}
	return true
}

// checkParam reports a parameter that a Dubbo URL cannot carry unescaped.
func checkParam(k, v string) error {
	if k == "" {
		return fmt.Errorf("%w: parameter with an empty key (value %q)", ErrInvalidURL, v)
	}
	if !validText(k, "&=?/") {
		return fmt.Errorf("%w: parameter key %q has a space, a control character or one of & = ? / #", ErrInvalidURL, k)
	}
	if !validText(v, "&") {
		return fmt.Errorf("%w: value %q of parameter %q has a space, a control character or one of & #", ErrInvalidURL, v, k)
	}
	return nil
}

// String writes the URL with its parameters sorted by key, the form ParseURL reads back. A
// URL without a port (a consumer's) is written without one, as Dubbo does.
func (u URL) String() string {
	var b strings.Builder
	b.WriteString(u.Protocol)
	b.WriteString("://")
	switch {
	case u.Port != 0:
		b.WriteString(net.JoinHostPort(u.Host, strconv.Itoa(u.Port)))
	case strings.Contains(u.Host, ":"):
		b.WriteString("[" + u.Host + "]")
	default:
		b.WriteString(u.Host)
	}
	b.WriteByte('/')
	b.WriteString(u.Path)
	for i, k := range slices.Sorted(maps.Keys(u.Params)) {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(u.Params[k])
	}
	return b.String()
}

// Equal reports whether two URLs are the same; nil and empty Params are equal.
func (u URL) Equal(o URL) bool {
	return u.Protocol == o.Protocol && u.Host == o.Host && u.Port == o.Port && u.Path == o.Path &&
		maps.Equal(u.Params, o.Params)
}

// NodeName returns the URL as the name of a ZooKeeper node: the whole URL query-escaped,
// as Dubbo's ZooKeeper registry writes it under /dubbo/<interface>/providers.
func (u URL) NodeName() string { return url.QueryEscape(u.String()) }

// ParseNodeName reads a provider node name written by Dubbo (Java's URLEncoder) or by
// NodeName.
func ParseNodeName(name string) (URL, error) {
	s, err := url.QueryUnescape(name)
	if err != nil {
		return URL{}, fmt.Errorf("%w: node name %.80q is not URL-encoded: %w", ErrInvalidURL, name, err)
	}
	return ParseURL(s)
}
