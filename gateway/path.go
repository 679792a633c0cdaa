package gateway

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

const (
	pathExact = iota
	pathPrefix
	pathTemplate
)

// pathMatcher is a compiled PathMatch.
type pathMatcher struct {
	kind int
	lit  string // the exact path, or the prefix without a trailing slash ("" for "/")
	segs []segment
	// names are the template's variables in order; a match fills one value per name.
	names []string
	// weight orders prefix and template routes, most specific first: the bytes of the
	// literal segments and their slashes, and one for each {variable}'s slash.
	weight int
	// first is the first segment when it is literal, the key of the bucket the route
	// lives in; "" puts the route in every bucket.
	first string
}

type segment struct {
	lit  string
	v    int // index into names, or -1 for a literal
	rest bool
}

// compilePath checks and compiles m.
func compilePath(m PathMatch) (*pathMatcher, error) {
	set := 0
	for _, s := range []string{m.Exact, m.Prefix, m.Template} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("want exactly one of exact, prefix and template")
	}
	switch {
	case m.Exact != "":
		if err := checkLiteralPath(m.Exact); err != nil {
			return nil, fmt.Errorf("exact %w", err)
		}
		return &pathMatcher{kind: pathExact, lit: m.Exact, weight: len(m.Exact), first: firstSegment(m.Exact)}, nil
	case m.Prefix != "":
		if err := checkLiteralPath(m.Prefix); err != nil {
			return nil, fmt.Errorf("prefix %w", err)
		}
		p := strings.TrimSuffix(m.Prefix, "/")
		return &pathMatcher{kind: pathPrefix, lit: p, weight: len(p), first: firstSegment(p)}, nil
	}
	t := m.Template
	if !strings.HasPrefix(t, "/") {
		return nil, fmt.Errorf("template %q: want a path starting with /", t)
	}
	pm := &pathMatcher{kind: pathTemplate}
	parts := strings.Split(t[1:], "/")
	for i, p := range parts {
		if !strings.ContainsAny(p, "{}") {
			if p == "." || p == ".." {
				return nil, fmt.Errorf("template %q: a %q segment: the request path is cleaned first, so it never matches", t, p)
			}
			pm.segs = append(pm.segs, segment{lit: p, v: -1})
			pm.weight += len(p) + 1
			continue
		}
		if len(p) < 3 || p[0] != '{' || p[len(p)-1] != '}' {
			return nil, fmt.Errorf("template %q: segment %q: a variable takes a whole segment, {name}", t, p)
		}
		name := p[1 : len(p)-1]
		rest := strings.HasSuffix(name, "...")
		name = strings.TrimSuffix(name, "...")
		if !validIdent(name) {
			return nil, fmt.Errorf("template %q: variable %q: want letters, digits and _", t, name)
		}
		if rest && i != len(parts)-1 {
			return nil, fmt.Errorf("template %q: {%s...} must be the last segment", t, name)
		}
		for _, n := range pm.names {
			if n == name {
				return nil, fmt.Errorf("template %q: variable %q twice", t, name)
			}
		}
		if !rest {
			pm.weight++ // its slash: "/orders/{id}" is more specific than the prefix "/orders"
		}
		pm.segs = append(pm.segs, segment{v: len(pm.names), rest: rest})
		pm.names = append(pm.names, name)
	}
	if pm.segs[0].v < 0 {
		pm.first = pm.segs[0].lit
	}
	return pm, nil
}

func checkLiteralPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q: want a path starting with /", p)
	}
	if strings.ContainsAny(p, "{}?#%") {
		return fmt.Errorf("%q: braces, ?, # and %% have no place in a literal path (a template takes variables)", p)
	}
	if cleanPath(p) != p {
		return fmt.Errorf("%q: not clean (// or . or .. segments); the request path is cleaned first, so write %q", p, cleanPath(p))
	}
	return nil
}

func firstSegment(p string) string {
	p = strings.TrimPrefix(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return p
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// match reports whether p, a cleaned path, matches, and appends the template's values to
// vals when it does and vals is not nil.
func (m *pathMatcher) match(p string, vals *[]string) bool {
	switch m.kind {
	case pathExact:
		return p == m.lit
	case pathPrefix:
		return m.lit == "" || strings.HasPrefix(p, m.lit) && (len(p) == len(m.lit) || p[len(m.lit)] == '/')
	}
	rest := p[1:]
	n := 0
	if vals != nil {
		n = len(*vals)
	}
	for i, s := range m.segs {
		if s.rest {
			if vals != nil {
				*vals = append(*vals, rest)
			}
			return true
		}
		seg, last := rest, true
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest, last = rest[:j], rest[j+1:], false
		}
		if s.v < 0 && seg != s.lit || s.v >= 0 && seg == "" {
			m.reset(vals, n)
			return false
		}
		if s.v >= 0 && vals != nil {
			*vals = append(*vals, seg)
		}
		left := m.segs[i+1:]
		switch {
		case last && len(left) == 0:
			return true
		case last && len(left) == 1 && left[0].rest:
			// "/files/{p...}" matches "/files" with an empty rest.
			if vals != nil {
				*vals = append(*vals, "")
			}
			return true
		case last || len(left) == 0:
			m.reset(vals, n)
			return false
		}
	}
	return true
}

func (m *pathMatcher) reset(vals *[]string, n int) {
	if vals != nil {
		*vals = (*vals)[:n]
	}
}

// rewriter builds the upstream path of a Rewrite.Path from the template's values.
type rewriter struct {
	parts []string // literals at even indexes, variable indexes encoded in vars
	vars  []int    // vars[i] is the value after parts[i], or -1
}

// checkRewrite checks a Rewrite.Path against the route's variables.
func (m *pathMatcher) checkRewrite(p string) error {
	_, err := m.compileRewrite(p)
	return err
}

func (m *pathMatcher) compileRewrite(p string) (*rewriter, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q: want a path starting with /", p)
	}
	if strings.ContainsAny(p, "?#%") {
		return nil, fmt.Errorf("%q: a path only (no ?, # or %%); the query goes upstream as it came", p)
	}
	rw := &rewriter{}
	s := p
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, fmt.Errorf("%q: a } without its {", p)
			}
			rw.parts, rw.vars = append(rw.parts, s), append(rw.vars, -1)
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("%q: a { without its }", p)
		}
		name := s[i+1 : i+j]
		v := -1
		for k, n := range m.names {
			if n == name {
				v = k
			}
		}
		if v < 0 {
			return nil, fmt.Errorf("%q: {%s} is no variable of the match's path template %v", p, name, m.names)
		}
		rw.parts, rw.vars = append(rw.parts, s[:i]), append(rw.vars, v)
		s = s[i+j+1:]
	}
	return rw, nil
}

func (rw *rewriter) build(vals []string) string {
	var b strings.Builder
	for i, p := range rw.parts {
		b.WriteString(p)
		if v := rw.vars[i]; v >= 0 && v < len(vals) {
			b.WriteString(vals[v])
		}
	}
	return cleanPath(b.String())
}

// cleanPath resolves . and .. segments and repeated slashes the way RFC 3986's
// remove_dot_segments does (a .. above the root stays at the root), keeping a trailing
// slash, so that no spelling of a path reaches a route another spelling would not.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")) {
		c += "/"
	}
	return c
}
