package registry

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidURL is wrapped by every error a backend returns for a registry URL it cannot
// use: a bad host list, a duration that is not positive, an unknown or repeated parameter.
// Backends wrap their own configuration error as well.
var ErrInvalidURL = errors.New("registry: invalid URL")

// URLParser reads a backend's URL with the rules every backend shares, so that one URL gets
// the same verdict whichever backend reads it:
//
//   - hosts are a comma-separated list of host[:port]; a host is a name (letters, digits,
//     '-', '.', '_') or an IP address, an IPv6 address in brackets ([::1]:2181); the port is
//     1-65535 and the backend's default when omitted;
//   - every parameter is one the backend knows, given once and with a value: an unknown
//     parameter is an error, not ignored, because a misspelt ttl would otherwise pass
//     silently;
//   - durations are Go durations ("10s", "500ms") and must be positive;
//   - credentials come either before the hosts (user:password@) or as parameters, not both.
//
// registry.Open parses the URL with net/url first, which (Go 1.26) needs the text after the
// host part's last colon to be a port: in a list, give the last host a port whenever another
// host has one (h1:2181,h2 is refused; h1,h2:2181 is not), and pass a list holding an IPv6
// address to the backend's New instead of a URL.
//
// Its errors wrap ErrInvalidURL and the backend's own sentinel, show the URL with any
// password hidden, and name the parameter or host at fault and its value.
type URLParser struct {
	u        *url.URL
	q        url.Values
	sentinel error
}

// NewURLParser checks the parts of u that do not depend on the backend: the scheme, that the
// URL has an authority (scheme://...), and that each query parameter is among known and given
// once with a value. sentinel is the backend's own error, wrapped by every error the parser
// returns besides ErrInvalidURL.
func NewURLParser(u *url.URL, scheme string, sentinel error, known ...string) (*URLParser, error) {
	p := &URLParser{u: u, sentinel: sentinel}
	if u.Scheme != scheme {
		return nil, p.Errorf("scheme %q: want %s", u.Scheme, scheme)
	}
	if u.Opaque != "" {
		return nil, p.Errorf("want %s://, not %s:", scheme, scheme)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, p.Errorf("query: %v", err)
	}
	for _, key := range slices.Sorted(maps.Keys(q)) {
		vals := q[key]
		switch {
		case !slices.Contains(known, key):
			return nil, p.Errorf("unknown parameter %q (known: %s)", key, strings.Join(known, ", "))
		case len(vals) > 1:
			return nil, p.Errorf("parameter %s given %d times; give it once", key, len(vals))
		case vals[0] == "":
			return nil, p.Errorf("parameter %s has no value; give one or leave the parameter out", key)
		}
	}
	p.q = q
	return p, nil
}

// Errorf returns an error about the URL, wrapping ErrInvalidURL and the backend's sentinel.
func (p *URLParser) Errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %w %q: %s", p.sentinel, ErrInvalidURL, RedactURL(p.u), fmt.Sprintf(format, args...))
}

// Hosts returns the URL's host list as host:port strings (IPv6 addresses in brackets), with
// defaultPort for a host given without a port. An empty list, an empty entry, an empty host,
// a port outside 1-65535 or an IPv6 address without brackets is an error.
func (p *URLParser) Hosts(defaultPort int) ([]string, error) {
	hosts, err := hostList(p.u.Host, defaultPort)
	if err != nil {
		return nil, p.Errorf("%v", err)
	}
	return hosts, nil
}

// String returns the value of a string parameter, or "" when it is absent.
func (p *URLParser) String(key string) string { return p.q.Get(key) }

// Has reports whether the parameter was given.
func (p *URLParser) Has(key string) bool { return p.q.Has(key) }

// Duration returns a duration parameter; ok is false when it is absent. A value that is not
// a positive Go duration is an error naming the parameter and the value.
func (p *URLParser) Duration(key string) (d time.Duration, ok bool, err error) {
	if !p.q.Has(key) {
		return 0, false, nil
	}
	v := p.q.Get(key)
	d, err = time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, false, p.Errorf("parameter %s=%q: want a positive Go duration such as 10s or 500ms", key, v)
	}
	return d, true, nil
}

// Bool returns a true/false parameter; ok is false when it is absent.
func (p *URLParser) Bool(key string) (b, ok bool, err error) {
	if !p.q.Has(key) {
		return false, false, nil
	}
	v := p.q.Get(key)
	b, err = strconv.ParseBool(v)
	if err != nil {
		return false, false, p.Errorf("parameter %s=%q: want true or false", key, v)
	}
	return b, true, nil
}

// Credentials returns the user name and password, given either before the hosts
// (user:password@host) or as the parameters userKey and passwordKey. Both ways at once is an
// error, and so is a password without a user.
func (p *URLParser) Credentials(userKey, passwordKey string) (user, password string, err error) {
	inQuery := p.q.Has(userKey) || p.q.Has(passwordKey)
	if p.u.User != nil {
		if inQuery {
			return "", "", p.Errorf("credentials given both before the host and as %s/%s parameters; give them once", userKey, passwordKey)
		}
		user = p.u.User.Username()
		password, _ = p.u.User.Password()
	} else {
		user, password = p.q.Get(userKey), p.q.Get(passwordKey)
	}
	if user == "" && password != "" {
		return "", "", p.Errorf("a password without a user name")
	}
	return user, password, nil
}

// ParseHostList parses a comma-separated list of host[:port] as registry URLs carry it, and
// returns each entry as host:port (net.JoinHostPort), with defaultPort where the port is
// omitted. Errors wrap ErrInvalidURL and name the entry at fault.
func ParseHostList(list string, defaultPort int) ([]string, error) {
	hosts, err := hostList(list, defaultPort)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	return hosts, nil
}

func hostList(list string, defaultPort int) ([]string, error) {
	if list == "" {
		return nil, errors.New("no host: want host:port[,host:port...]")
	}
	items := strings.Split(list, ",")
	out := make([]string, 0, len(items))
	for _, item := range items {
		hp, err := parseHostPort(item, defaultPort)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", item, err)
		}
		out = append(out, hp)
	}
	return out, nil
}

func parseHostPort(item string, defaultPort int) (string, error) {
	if item == "" {
		return "", errors.New("empty entry in the host list")
	}
	host, port := item, ""
	if strings.HasPrefix(item, "[") {
		end := strings.IndexByte(item, ']')
		if end < 0 {
			return "", errors.New("an IPv6 address opened with [ has no ]")
		}
		host = item[1:end]
		switch rest := item[end+1:]; {
		case rest == "":
		case rest[0] == ':':
			port = rest[1:]
			if port == "" {
				return "", errors.New("empty port after the colon")
			}
		default:
			return "", fmt.Errorf("unexpected %q after the IPv6 address", rest)
		}
		addr, _, _ := strings.Cut(host, "%") // a zone (fe80::1%eth0) is the OS's business
		if ip := net.ParseIP(addr); ip == nil || !strings.Contains(addr, ":") {
			return "", fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
	} else {
		switch strings.Count(item, ":") {
		case 0:
		case 1:
			host, port, _ = strings.Cut(item, ":")
			if port == "" {
				return "", errors.New("empty port after the colon")
			}
		default:
			return "", errors.New("an IPv6 address needs brackets, as in [::1]:2181")
		}
		if host == "" {
			return "", errors.New("empty host name")
		}
		if i := strings.IndexFunc(host, badNameRune); i >= 0 {
			return "", fmt.Errorf("character %q in host name %q: want letters, digits, '-', '.', '_' or an IP address", host[i:i+1], host)
		}
	}
	n := defaultPort
	if port != "" {
		// Digits only: Atoi would take "+80" and "-1", and "0080" is kept out as well.
		if strings.TrimLeft(port, "0123456789") != "" || port[0] == '0' || len(port) > 5 {
			return "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
		}
		n, _ = strconv.Atoi(port)
	}
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("port %d: want a number from 1 to 65535", n)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

func badNameRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_')
}

// RedactURL returns the URL as text with its password hidden, whether it is in the user part
// (user:password@) or a password parameter, for logs and error messages.
func RedactURL(u *url.URL) string {
	c := *u
	if q, err := url.ParseQuery(c.RawQuery); err == nil && q.Has("password") {
		q.Set("password", "xxxxx")
		c.RawQuery = q.Encode()
	} else if err != nil && strings.Contains(c.RawQuery, "password") {
		c.RawQuery = "(query hidden: it may hold a password)"
	}
	return c.Redacted()
}
