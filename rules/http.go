package rules

import (
	"fmt"
	"strings"
)

// HTTPPolicyFor returns the call policy of an HTTP request with method and path (the
// URL's path, "/orders/42") on service, and the key of methods it was found under (for a
// client keeping state per rule, such as a retry budget). The keys of methods it reads are
// routes as net/http's ServeMux writes them: "GET /orders/42" matches that method and path
// exactly;
// in "GET /orders/{id}", a {name} segment matches any one segment; a last {name...}
// segment, or a path ending in "/", matches the rest of the path (and "/{$}" only the path
// ending there). The method is matched exactly (an empty one is GET). Lookup goes as in
// PolicyFor: the service's exact key, else its best matching pattern (the one with the
// most segments written out; ties go to the key that sorts first), else its "*", then the
// same among the defaults; ok is false when none is set.
func (r *Rules) HTTPPolicyFor(service, method, path string) (key string, p Policy, ok bool) {
	if r == nil {
		return "", Policy{}, false
	}
	if method == "" {
		method = "GET"
	}
	s := r.Services[service]
	for _, m := range []map[string]Policy{s.Methods, r.Defaults.Methods} {
		if len(m) == 0 {
			continue
		}
		// The exact key, looked up through a byte slice: the compiler does not allocate a
		// string for a map index of string(bytes), and this runs on every request.
		var buf [128]byte
		exact := append(append(append(buf[:0], method...), ' '), path...)
		if p, ok := m[string(exact)]; ok {
			return method + " " + path, p, true
		}
		best, bestLit := "", -1
		for key := range m {
			if lit, ok := matchRoute(key, method, path); ok && (lit > bestLit || lit == bestLit && key < best) {
				best, bestLit = key, lit
			}
		}
		if bestLit >= 0 {
			return best, m[best], true
		}
		if p, ok := m["*"]; ok {
			return "*", p, true
		}
	}
	return "", Policy{}, false
}

// matchRoute reports whether the route key ("GET /orders/{id}") accepts method and path,
// and how many of its segments are written out.
func matchRoute(key, method, path string) (literal int, ok bool) {
	km, pattern, found := strings.Cut(key, " ")
	if !found || km != method || !strings.HasPrefix(pattern, "/") || !strings.HasPrefix(path, "/") {
		return 0, false
	}
	pattern, path = pattern[1:], path[1:]
	for {
		seg, rest, more := strings.Cut(pattern, "/")
		switch {
		case seg == "{$}" && !more:
			return literal, path == ""
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}") && !more:
			return literal, true
		case seg == "" && !more:
			// The pattern ended in "/" (or is "/"): a subtree, every path below it.
			return literal, true
		}
		pseg, prest, pmore := strings.Cut(path, "/")
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			if pseg == "" {
				return 0, false
			}
		case seg != pseg:
			return 0, false
		default:
			literal++
		}
		if !more || !pmore {
			return literal, !more && !pmore
		}
		pattern, path = rest, prest
	}
}

// checkRoute says what is wrong with an HTTP route key, or "" when nothing is.
func checkRoute(key string) string {
	method, path, ok := strings.Cut(key, " ")
	if !ok {
		return `want "METHOD /path" (a gRPC method starts with "/", and "*" is every other)`
	}
	if method == "" || strings.Trim(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return fmt.Sprintf("method %q: want upper-case letters, as GET", method)
	}
	if !strings.HasPrefix(path, "/") {
		return fmt.Sprintf("path %q: want it to start with /", path)
	}
	segs := strings.Split(path[1:], "/")
	for i, seg := range segs {
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		last := i == len(segs)-1
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		switch {
		case len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.ContainsAny(name, "{}"):
			return fmt.Sprintf("segment %q: a wildcard takes a whole segment, as {id}", seg)
		case name == "$" && !last, strings.HasSuffix(name, "...") && !last:
			return fmt.Sprintf("segment %q: only the last segment can be %s", seg, seg)
		}
	}
	return ""
}
