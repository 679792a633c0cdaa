package transcode

import (
	"fmt"
	"strings"
)

// segKind is what one segment of a path template matches.
type segKind uint8

const (
	segLiteral segKind = iota // exactly its text
	segStar                   // one segment, any text
	segStars                  // the rest of the path, zero or more segments
)

type segment struct {
	kind segKind
	lit  string
}

// variable is a {field.path=segments} of a template: the field it sets and the template
// segments [start, end) its value spans.
type variable struct {
	fieldPath  string
	start, end int
	multi      bool // may span several path segments: keeps %2F escaped
}

// template is a compiled HttpRule path template:
//
//	Template = "/" Segments [ Verb ] ;
//	Segments = Segment { "/" Segment } ;
//	Segment  = "*" | "**" | LITERAL | Variable ;
//	Variable = "{" FieldPath [ "=" Segments ] "}" ;
//	FieldPath = IDENT { "." IDENT } ;
//	Verb     = ":" LITERAL ;
//
// "**" may only be the last segment, so a match never backtracks.
type template struct {
	src  string
	segs []segment
	vars []variable
	verb string
}

// parseTemplate compiles src; its errors wrap ErrRule and say where src goes wrong.
func parseTemplate(src string) (*template, error) {
	p := &templateParser{src: src}
	t, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("%w: path template %q: %s", ErrRule, src, err)
	}
	return t, nil
}

type templateParser struct {
	src string
	pos int
	t   template
}

func (p *templateParser) parse() (*template, error) {
	p.t.src = p.src
	if !strings.HasPrefix(p.src, "/") {
		return nil, fmt.Errorf("does not start with /")
	}
	p.pos = 1
	if err := p.segments(false); err != nil {
		return nil, err
	}
	if p.pos < len(p.src) && p.src[p.pos] == ':' {
		verb := p.src[p.pos+1:]
		if verb == "" || strings.ContainsAny(verb, "/{}*:") {
			return nil, fmt.Errorf("bad verb %q", verb)
		}
		p.t.verb = verb
		p.pos = len(p.src)
	}
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.src[p.pos], p.pos)
	}
	for i, s := range p.t.segs {
		if s.kind == segStars && i != len(p.t.segs)-1 {
			return nil, fmt.Errorf("** is not the last segment")
		}
	}
	return &p.t, nil
}

// segments parses Segments; inVar stops it at the '}' that closes a variable.
func (p *templateParser) segments(inVar bool) error {
	for {
		if err := p.segment(inVar); err != nil {
			return err
		}
		if p.pos < len(p.src) && p.src[p.pos] == '/' {
			p.pos++
			continue
		}
		return nil
	}
}

func (p *templateParser) segment(inVar bool) error {
	rest := p.src[p.pos:]
	switch {
	case strings.HasPrefix(rest, "**"):
		p.t.segs = append(p.t.segs, segment{kind: segStars})
		p.pos += 2
	case strings.HasPrefix(rest, "*"):
		p.t.segs = append(p.t.segs, segment{kind: segStar})
		p.pos++
	case strings.HasPrefix(rest, "{"):
		if inVar {
			return fmt.Errorf("nested variable at offset %d", p.pos)
		}
		return p.variable()
	default:
		n := strings.IndexAny(rest, "/{}*:")
		if n < 0 {
			n = len(rest)
		}
		if n == 0 {
			return fmt.Errorf("empty segment at offset %d", p.pos)
		}
		p.t.segs = append(p.t.segs, segment{kind: segLiteral, lit: rest[:n]})
		p.pos += n
	}
	return nil
}

func (p *templateParser) variable() error {
	p.pos++ // '{'
	rest := p.src[p.pos:]
	n := strings.IndexAny(rest, "=}")
	if n < 0 {
		return fmt.Errorf("unclosed variable at offset %d", p.pos-1)
	}
	field := rest[:n]
	if !validFieldPath(field) {
		return fmt.Errorf("bad field path %q", field)
	}
	for _, v := range p.t.vars {
		if v.fieldPath == field {
			return fmt.Errorf("field %s bound twice", field)
		}
	}
	p.pos += n
	start := len(p.t.segs)
	if p.src[p.pos] == '=' {
		p.pos++
		if err := p.segments(true); err != nil {
			return err
		}
	} else {
		p.t.segs = append(p.t.segs, segment{kind: segStar})
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '}' {
		return fmt.Errorf("unclosed variable %s", field)
	}
	p.pos++
	multi := len(p.t.segs)-start > 1 || p.t.segs[start].kind == segStars
	p.t.vars = append(p.t.vars, variable{fieldPath: field, start: start, end: len(p.t.segs), multi: multi})
	return nil
}

func validFieldPath(s string) bool {
	for part := range strings.SplitSeq(s, ".") {
		if part == "" {
			return false
		}
		for i, c := range part {
			letter := c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z')
			if !letter && (i == 0 || c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

// maxStackSegs is how many template segments match without allocating for the bounds.
const maxStackSegs = 16

// match reports whether path (escaped, starting with '/') matches t, and if so calls
// capture with the index of each variable and the escaped text it spans.
func (t *template) match(path string, capture func(i int, raw string)) bool {
	var bounds [maxStackSegs + 1]int
	var ends []int
	if len(t.segs) <= maxStackSegs {
		ends = bounds[:len(t.segs)+1]
	} else {
		ends = make([]int, len(t.segs)+1)
	}
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	if t.verb != "" {
		i := strings.LastIndexByte(path, ':')
		if i < 0 || path[i+1:] != t.verb {
			return false
		}
		path = path[:i]
	}
	pos := 1 // start of the next segment in path
	for i, s := range t.segs {
		ends[i] = pos
		if s.kind == segStars {
			pos = len(path) + 1
			continue
		}
		if pos > len(path) {
			return false
		}
		n := strings.IndexByte(path[pos:], '/')
		if n < 0 {
			n = len(path) - pos
		}
		seg := path[pos : pos+n]
		switch s.kind {
		case segLiteral:
			if seg != s.lit {
				return false
			}
		case segStar:
			if seg == "" {
				return false
			}
		}
		pos += n + 1
	}
	ends[len(t.segs)] = pos
	if pos != len(path)+1 {
		return false
	}
	if capture != nil {
		for i := range t.vars {
			v := &t.vars[i]
			// A "**" that matched nothing leaves its bounds past the end of path.
			from := min(ends[v.start], len(path))
			to := max(from, min(ends[v.end]-1, len(path)))
			capture(i, path[from:to])
		}
	}
	return true
}

// before orders templates for matching: at the first segment where they differ, a literal
// goes before a wildcard and "*" before "**"; a template with a verb goes before one
// without, so "/v1/{name=books/*}:cancel" is not read as a name ending in ":cancel".
func (t *template) before(u *template) bool {
	if (t.verb != "") != (u.verb != "") {
		return t.verb != ""
	}
	for i := range min(len(t.segs), len(u.segs)) {
		if t.segs[i].kind != u.segs[i].kind {
			return t.segs[i].kind < u.segs[i].kind
		}
	}
	return len(t.segs) > len(u.segs)
}
