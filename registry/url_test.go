package registry_test

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

var errBackend = errors.New("backend: invalid configuration")

func TestParseHostListAppliesTheURLRules(t *testing.T) {
	for _, tc := range []struct {
		list string
		want string // hosts joined by spaces; "" when refused
	}{
		{"a:1,b,[::1],[fe80::1%eth0]:9", "a:1 b:80 [::1]:80 [fe80::1%eth0]:9"},
		{"h:65535", "h:65535"},
		{"h:65536", ""},
		{"h:99999", ""},
		{":80", ""},
		{"", ""},
		{"h:080", ""},
		{"[]:1", ""},
		{"[::1]:", ""},
	} {
		got, err := registry.ParseHostList(tc.list, 80)
		if tc.want == "" {
			if !errors.Is(err, registry.ErrInvalidURL) || !strings.Contains(err.Error(), strconv.Quote(strings.Split(tc.list, ",")[0])) && tc.list != "" {
				t.Errorf("ParseHostList(%q) = %q, %v; want an ErrInvalidURL naming the host", tc.list, got, err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("ParseHostList(%q) = %q, %v; want %s", tc.list, got, err, tc.want)
		}
	}
}

func TestURLParserTakesCredentialsOnceEitherWay(t *testing.T) {
	for _, tc := range []struct {
		url        string
		user, pass string
		bad        bool
	}{
		{url: "x://u:p@h", user: "u", pass: "p"},
		{url: "x://h?user=u&password=p", user: "u", pass: "p"},
		{url: "x://h?user=u", user: "u"},
		{url: "x://u:p@h?user=v", bad: true},
		{url: "x://u:p@h?password=q", bad: true},
		{url: "x://h?password=p", bad: true},
		{url: "x://:p@h", bad: true},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		p, err := registry.NewURLParser(u, "x", errBackend, "user", "password")
		if err != nil {
			t.Fatal(err)
		}
		user, pass, err := p.Credentials("user", "password")
		if tc.bad {
			if !errors.Is(err, registry.ErrInvalidURL) || !errors.Is(err, errBackend) {
				t.Errorf("%s: Credentials = %q, %q, %v; want an error", tc.url, user, pass, err)
			}
			continue
		}
		if err != nil || user != tc.user || pass != tc.pass {
			t.Errorf("%s: Credentials = %q, %q, %v; want %q, %q", tc.url, user, pass, err, tc.user, tc.pass)
		}
	}
}

func TestURLErrorsHideThePassword(t *testing.T) {
	for _, raw := range []string{
		"x://u:s3cr3t@h?colour=red",
		"x://h?password=s3cr3t&colour=red",
		"x://h?password=s3cr3t&ttl=5%zz",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = registry.NewURLParser(u, "x", errBackend, "password", "ttl")
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("NewURLParser(%s) = %v, want an error without the password", raw, err)
		}
	}
}

// FuzzParseHostList: any host part either is refused with ErrInvalidURL or gives hosts with a
// non-empty host and a port from 1 to 65535 that parse again to themselves.
func FuzzParseHostList(f *testing.F) {
	for _, s := range []string{"h", "h:1,[::1]:2,[fe80::1%eth0]", ":1", "h:99999", "a:1,,b", "[::1", "[1.2.3.4]:5", "h:+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		hosts, err := registry.ParseHostList(list, 7)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidURL) {
				t.Fatalf("%q: %v does not wrap ErrInvalidURL", list, err)
			}
			return
		}
		if len(hosts) != strings.Count(list, ",")+1 {
			t.Fatalf("%q gave %d hosts", list, len(hosts))
		}
		for _, h := range hosts {
			host, port, err := net.SplitHostPort(h)
			n, _ := strconv.Atoi(port)
			if err != nil || host == "" || n < 1 || n > 65535 {
				t.Fatalf("%q gave host %q", list, h)
			}
		}
		again, err := registry.ParseHostList(strings.Join(hosts, ","), 7)
		if err != nil || !slices.Equal(again, hosts) {
			t.Fatalf("%q gave %q, which parses again as %q, %v", list, hosts, again, err)
		}
	})
}
