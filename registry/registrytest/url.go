package registrytest

import (
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
)

// URLBackend describes a backend's URL parser for RunURLCases.
type URLBackend struct {
	Scheme string
	// Parse is the backend's parser; it returns the host list as the backend will dial it.
	Parse func(u *url.URL) (hosts []string, err error)
	// Sentinel is the backend's own configuration error, wrapped besides
	// registry.ErrInvalidURL.
	Sentinel error
	// DefaultPort is the port of a host given without one; zero for a backend without
	// hosts (file://), which runs only the query cases.
	DefaultPort int
	// Duration is a parameter the backend reads as a duration, such as ttl.
	Duration string
}

// URLCase is a URL every backend judges alike.
type URLCase struct {
	Name string
	// Hosts is the host part; it is replaced by nothing for a backend without hosts.
	Hosts string
	// Query is the raw query; {d} stands for the backend's duration parameter.
	Query string
	// Want is the host list a backend returns, {port} standing for its default port; nil
	// when the URL must be refused.
	Want []string
	// Mention is a piece of text a refusal must contain: the parameter or value at fault.
	Mention string
	// Hidden is a password the refusal must not show.
	Hidden string
}

// URLCases returns the table: hosts (non-empty, port 1-65535, default port, IPv6 in
// brackets) and parameters (unknown, repeated, empty, non-positive durations).
func URLCases() []URLCase {
	ok := func(name, hosts string, want ...string) URLCase {
		return URLCase{Name: name, Hosts: hosts, Want: want}
	}
	badHost := func(name, hosts, mention string) URLCase {
		return URLCase{Name: name, Hosts: hosts, Mention: mention}
	}
	badQuery := func(name, query, mention string) URLCase {
		return URLCase{Name: name, Hosts: "h:1", Query: query, Mention: mention}
	}
	return []URLCase{
		ok("OneHostWithPort", "h:1", "h:1"),
		ok("AHighPort", "h:64535", "h:64535"), // Nacos takes up to 64535: gRPC is on port+1000
		ok("NoPortTakesTheDefault", "h", "h:{port}"),
		ok("EveryHostOfAListTakesTheDefault", "a:1,b,c:3", "a:1", "b:{port}", "c:3"),
		ok("IPv4", "10.0.0.1:7", "10.0.0.1:7"),
		ok("IPv6InBrackets", "[::1]:7", "[::1]:7"),
		ok("IPv6WithoutPortTakesTheDefault", "[::1]", "[::1]:{port}"),
		ok("IPv6InAList", "a:1,[fe80::1]:2", "a:1", "[fe80::1]:2"),
		ok("NamesWithDashDotUnderscore", "zk-1.example_a.com:5", "zk-1.example_a.com:5"),
		badHost("NoHost", "", "no host"),
		badHost("EmptyHostBeforeThePort", ":2181", `":2181"`),
		badHost("PortAboveRange", "h:99999", "99999"),
		badHost("PortJustAboveRange", "h:65536", "65536"),
		badHost("PortZero", "h:0", `"0"`),
		badHost("NegativePort", "h:-1", `"-1"`),
		badHost("SignedPort", "h:+1", `"+1"`),
		badHost("EmptyPort", "h:", "empty port"),
		badHost("PortNotANumber", "h:http", `"http"`),
		badHost("EmptyEntryInAList", "a:1,,b:2", "empty entry"),
		badHost("TrailingComma", "a:1,", "empty entry"),
		badHost("IPv6WithoutBrackets", "::1", "brackets"),
		badHost("IPv6WithoutBracketsWithPort", "fe80::1:2181", "brackets"),
		badHost("UnclosedBracket", "[::1:2181", "no ]"),
		badHost("JunkAfterBracket", "[::1]2181", `"2181"`),
		badHost("IPv4InBrackets", "[10.0.0.1]:1", "not an IPv6"),
		badHost("TwoPorts", "h:1:2", "brackets"),
		badHost("SpaceInName", "a b:1", `" "`),
		badHost("SlashInName", "a/b:1", `"/"`),
		badQuery("UnknownParameter", "colour=red", `"colour"`),
		badQuery("NegativeDuration", "{d}=-1s", `"-1s"`),
		badQuery("ZeroDuration", "{d}=0s", `"0s"`),
		badQuery("DurationWithoutUnit", "{d}=10", `"10"`),
		badQuery("DurationNotADuration", "{d}=soon", `"soon"`),
		badQuery("EmptyValue", "{d}=", "no value"),
		badQuery("ParameterWithoutValue", "{d}", "no value"),
		badQuery("RepeatedParameter", "{d}=5s&{d}=6s", "2 times"),
		badQuery("MalformedQuery", "{d}=5%zz", "query"),
		{Name: "PasswordParameterHidden", Hosts: "h:1", Query: "password=topsecret&colour=red", Mention: `"colour"`, Hidden: "topsecret"},
		{Name: "PasswordInUserPartHidden", Hosts: "h:1", Query: "colour=red", Mention: `"colour"`, Hidden: "topsecret"},
		{Name: "PositiveDuration", Hosts: "h:1", Query: "{d}=1500ms", Want: []string{"h:1"}},
	}
}

// RunURLCases runs URLCases through the backend's parser: a URL refused must be refused with
// an error wrapping registry.ErrInvalidURL and the backend's sentinel that names what is
// wrong; a URL accepted must give the expected host list.
func RunURLCases(t *testing.T, b URLBackend) {
	t.Helper()
	for _, tc := range URLCases() {
		t.Run(tc.Name, func(t *testing.T) {
			hosts := tc.Hosts
			if b.DefaultPort == 0 {
				if tc.Query == "" {
					t.Skip("a host-list case; this backend takes no hosts")
				}
				hosts = ""
			}
			u := &url.URL{Scheme: b.Scheme, Host: hosts, Path: "/x", RawQuery: strings.ReplaceAll(tc.Query, "{d}", b.Duration)}
			if tc.Hidden != "" && !strings.Contains(tc.Query, tc.Hidden) {
				u.User = url.UserPassword("u", tc.Hidden)
			}
			got, err := b.Parse(u)
			if tc.Want == nil {
				if tc.Hidden != "" && err != nil && strings.Contains(err.Error(), tc.Hidden) {
					t.Fatalf("%s: error %v shows the password", u.Redacted(), err)
				}
				if !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, b.Sentinel) || !strings.Contains(err.Error(), tc.Mention) {
					t.Fatalf("%s: got %q, %v; want an error wrapping registry.ErrInvalidURL and %v mentioning %s", u, got, err, b.Sentinel, tc.Mention)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			if b.DefaultPort == 0 {
				return
			}
			want := make([]string, len(tc.Want))
			for i, w := range tc.Want {
				want[i] = strings.ReplaceAll(w, "{port}", strconv.Itoa(b.DefaultPort))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: hosts %q, want %q", u, got, want)
			}
		})
	}
}

// URLSeeds returns the URLs of URLCases with the backend's scheme and duration parameter,
// as seeds for a fuzz target of its parser.
func URLSeeds(b URLBackend) []string {
	var out []string
	for _, tc := range URLCases() {
		hosts := tc.Hosts
		if b.DefaultPort == 0 {
			hosts = ""
		}
		u := url.URL{Scheme: b.Scheme, Host: hosts, Path: "/x", RawQuery: strings.ReplaceAll(tc.Query, "{d}", b.Duration)}
		out = append(out, u.String())
	}
	return out
}

// CheckHosts fails t unless every host is host:port as a parsed URL must give it: a
// non-empty host, a port from 1 to maxPort, and the same list when parsed again.
func CheckHosts(t testing.TB, hosts []string, maxPort int) {
	t.Helper()
	if len(hosts) == 0 {
		t.Fatal("a URL that parses gave no host")
	}
	for _, h := range hosts {
		host, port, err := net.SplitHostPort(h)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > maxPort || strconv.Itoa(n) != port {
			t.Fatalf("host %q: want a non-empty host and a port from 1 to %d", h, maxPort)
		}
	}
	again, err := registry.ParseHostList(strings.Join(hosts, ","), 1)
	if err != nil || !slices.Equal(again, hosts) {
		t.Fatalf("hosts %q parse again as %q, %v", hosts, again, err)
	}
}
