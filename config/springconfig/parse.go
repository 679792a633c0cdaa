package springconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tianshu-go/tianshu/config"
)

// environment is the part of a Config Server answer (Spring's Environment) this package
// reads. Version is a commit id for git and absent for the native profile; change
// detection compares whole answers instead (see Source.Watch).
type environment struct {
	Name            string           `json:"name"`
	Profiles        []string         `json:"profiles"`
	Label           *string          `json:"label"`
	Version         *string          `json:"version"`
	PropertySources []propertySource `json:"propertySources"`
}

type propertySource struct {
	Name   string                     `json:"name"`
	Source map[string]json.RawMessage `json:"source"`
}

// parse turns a Config Server answer into documents, lowest precedence first: the server
// lists property sources highest first (profile-specific before default, the application's
// before application.yml's), and a config.Source's later document overrides an earlier one.
// Each document is YAML that nests the source's flat keys again ("db.hosts[0]" is the first
// element of the list db.hosts), so that binding a key to a struct or a slice works as it
// does for a YAML file.
func parse(body []byte) ([]config.Document, error) {
	// Spring sends UTF-8; a value with other bytes would pass through json.RawMessage as they
	// are and make the YAML unreadable.
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: the answer is not UTF-8", ErrBadResponse)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var env environment
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %w", ErrBadResponse, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBadResponse)
	}
	docs := make([]config.Document, 0, len(env.PropertySources))
	used := map[string]bool{}
	for i := len(env.PropertySources) - 1; i >= 0; i-- {
		ps := env.PropertySources[i]
		name := uniqueName(docName(ps.Name, i), used)
		data, err := encodeSource(ps.Source)
		if err != nil {
			return nil, fmt.Errorf("%w: property source %q: %w", ErrBadResponse, ps.Name, err)
		}
		docs = append(docs, config.Document{Name: name, Format: config.YAML, Data: data})
	}
	return docs, nil
}

// docName shortens a property source's name to what errors should show. The native profile
// names a file "file:/srv/config/orders.yml", other backends "Config resource 'file
// [/srv/config/orders.yml]' via location ..."; the path says it all. Other names (a git
// URL, a Vault path) are kept whole.
func docName(name string, i int) string {
	if p, ok := strings.CutPrefix(name, "file:"); ok && p != "" {
		return p
	}
	if open := strings.Index(name, " ["); open >= 0 {
		if end := strings.IndexByte(name[open:], ']'); end > 2 {
			name = name[open+2 : open+end]
		}
	}
	if name == "" {
		return "property source " + strconv.Itoa(i)
	}
	return name
}

// uniqueName keeps document names unique within a snapshot, as config.Source requires.
func uniqueName(name string, used map[string]bool) string {
	out := name
	for n := 2; used[out]; n++ {
		out = name + " (" + strconv.Itoa(n) + ")"
	}
	used[out] = true
	return out
}

// node is one key of the tree rebuilt from flat keys: a value, a map or a list, never two.
type node struct {
	value json.RawMessage
	keys  map[string]*node
	items map[int]*node
}

// encodeSource nests a property source's flat keys and writes them as YAML: one line per
// top-level key, each value in JSON's flow syntax, which is YAML too and keeps the types
// the server sent (numbers and booleans from a YAML file, strings from .properties).
func encodeSource(src map[string]json.RawMessage) ([]byte, error) {
	root := &node{keys: map[string]*node{}}
	// Sorted, so that the same answer always gives the same error and the same document.
	flat := make([]string, 0, len(src))
	for k := range src {
		flat = append(flat, k)
	}
	sort.Strings(flat)
	for _, k := range flat {
		path, err := splitKey(k)
		if err != nil {
			return nil, err
		}
		if err := root.set(k, path, src[k], len(src)); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	top := make([]string, 0, len(root.keys))
	for k := range root.keys {
		top = append(top, k)
	}
	sort.Strings(top)
	for _, k := range top {
		writeKey(&b, k)
		b.WriteString(": ")
		if err := root.keys[k].writeJSON(&b); err != nil {
			return nil, err
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// segment is one step of a flat key: a map key, or a list index when isIndex.
type segment struct {
	key     string
	index   int
	isIndex bool
}

// splitKey parses Spring's flat key syntax: dotted names, [N] for list elements and
// [any.text] for a map key that holds dots.
func splitKey(k string) ([]segment, error) {
	var out []segment
	i := 0
	for i < len(k) {
		switch {
		case k[i] == '[':
			end := strings.IndexByte(k[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("key %q: unclosed [", k)
			}
			inner := k[i+1 : i+end]
			if inner == "" {
				return nil, fmt.Errorf("key %q: empty []", k)
			}
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 && inner[0] != '+' {
				out = append(out, segment{index: n, isIndex: true})
			} else {
				out = append(out, segment{key: inner})
			}
			i += end + 1
			if i < len(k) {
				if k[i] == '.' {
					i++
					if i == len(k) {
						return nil, fmt.Errorf("key %q has an empty segment", k)
					}
				} else if k[i] != '[' {
					return nil, fmt.Errorf("key %q: want . or [ after ]", k)
				}
			}
		default:
			end := strings.IndexAny(k[i:], ".[")
			if end < 0 {
				end = len(k) - i
			}
			if end == 0 {
				return nil, fmt.Errorf("key %q has an empty segment", k)
			}
			out = append(out, segment{key: k[i : i+end]})
			i += end
			if i < len(k) && k[i] == '.' {
				i++
				if i == len(k) {
					return nil, fmt.Errorf("key %q has an empty segment", k)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty key")
	}
	return out, nil
}

// set stores v at path. maxItems bounds list indices: a list of n elements needs n keys, so
// an index past the number of keys cannot be part of a complete list, and a hostile
// "a[2000000000]" allocates nothing.
func (n *node) set(key string, path []segment, v json.RawMessage, maxItems int) error {
	for depth, s := range path {
		if n.value != nil {
			return fmt.Errorf("key %q: %s is both a value and a section", key, prefix(path[:depth]))
		}
		var next *node
		if s.isIndex {
			if n.keys != nil {
				return fmt.Errorf("key %q: %s is both a list and a map", key, prefix(path[:depth]))
			}
			if s.index >= maxItems {
				return fmt.Errorf("key %q: list index %d past the number of keys", key, s.index)
			}
			if n.items == nil {
				n.items = map[int]*node{}
			}
			if next = n.items[s.index]; next == nil {
				next = &node{}
				n.items[s.index] = next
			}
		} else {
			if n.items != nil {
				return fmt.Errorf("key %q: %s is both a list and a map", key, prefix(path[:depth]))
			}
			if n.keys == nil {
				n.keys = map[string]*node{}
			}
			if next = n.keys[s.key]; next == nil {
				next = &node{}
				n.keys[s.key] = next
			}
		}
		n = next
	}
	if n.keys != nil || n.items != nil {
		return fmt.Errorf("key %q is both a value and a section", key)
	}
	if n.value != nil {
		// Two spellings of one key ("a[0]" and "a[00]"): Spring would keep one, at random.
		return fmt.Errorf("key %q is given twice", key)
	}
	if !json.Valid(v) {
		return fmt.Errorf("key %q: malformed value", key)
	}
	n.value = v
	return nil
}

// prefix spells the first segments of a path as Spring would.
func prefix(path []segment) string {
	var b strings.Builder
	for i, s := range path {
		switch {
		case s.isIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case i > 0:
			b.WriteString("." + s.key)
		default:
			b.WriteString(s.key)
		}
	}
	return strconv.Quote(b.String())
}

// writeJSON writes the node as a JSON value. Map keys come out sorted, and a list must have
// every element from 0 on.
func (n *node) writeJSON(b *bytes.Buffer) error {
	switch {
	case n.value != nil:
		var compact bytes.Buffer
		if err := json.Compact(&compact, n.value); err != nil {
			return err
		}
		b.Write(compact.Bytes())
	case n.items != nil:
		b.WriteByte('[')
		for i := range len(n.items) {
			item, ok := n.items[i]
			if !ok {
				return fmt.Errorf("list has %d elements but no element %d", len(n.items), i)
			}
			if i > 0 {
				b.WriteByte(',')
			}
			if err := item.writeJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		keys := make([]string, 0, len(n.keys))
		for k := range n.keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			if err := n.keys[k].writeJSON(b); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	}
	return nil
}

// writeKey writes a top-level key bare when YAML reads it back as the same string, else
// quoted.
func writeKey(b *bytes.Buffer, k string) {
	if plainKey(k) {
		b.WriteString(k)
		return
	}
	q, _ := json.Marshal(k)
	b.Write(q)
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '-')) {
			return false
		}
	}
	switch strings.ToLower(k) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n":
		return false
	}
	return true
}
