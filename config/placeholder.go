package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Placeholders: ${NAME} and ${NAME:default} inside string values. NAME is
// looked up first as a dotted key of the merged config, then as an
// environment variable; the default may itself hold placeholders. "$${"
// stands for a literal "${". A value that is exactly one placeholder takes the
// referenced value with its type (so "${db.port}" stays a number); otherwise
// the referenced values are spliced in as text.

const (
	maxPlaceholderDepth = 32
	maxResolvedLen      = 1 << 20
)

type resolver struct {
	root   map[string]any
	env    func(string) (string, bool)
	origin func(key string) string // where a key's value came from, for errors; may be nil
	stack  []string                // config keys being resolved, and "${NAME}" for defaults
	done   map[string]any          // resolved config keys, so shared references expand once
}

// resolveTree returns root with every placeholder expanded. Sub-trees
// without placeholders are shared with root, which is left untouched.
// origin, if not nil, names where a key's value came from in errors.
func resolveTree(root map[string]any, env func(string) (string, bool), origin func(string) string) (map[string]any, error) {
	r := &resolver{root: root, env: env, origin: origin}
	v, _, err := r.value(root, "")
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// value returns v with placeholders expanded and whether anything changed;
// unchanged containers are returned as they are, so trees stay shared.
func (r *resolver) value(v any, key string) (any, bool, error) {
	switch x := v.(type) {
	case string:
		if !strings.Contains(x, "${") {
			return x, false, nil
		}
		if len(r.stack) == 0 {
			// A cycle through this key must show it: "a -> b -> a".
			r.stack = append(r.stack, key)
			defer func() { r.stack = r.stack[:0] }()
		}
		n, err := r.str(x, key)
		return n, true, err
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			n, ch, err := r.value(e, join(key, k))
			if err != nil {
				return nil, false, err
			}
			if !ch {
				continue
			}
			if out == nil {
				out = make(map[string]any, len(x))
				for k2, e2 := range x {
					out[k2] = e2
				}
			}
			out[k] = n
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	case []any:
		var out []any
		for i, e := range x {
			n, ch, err := r.value(e, join(key, strconv.Itoa(i)))
			if err != nil {
				return nil, false, err
			}
			if !ch {
				continue
			}
			if out == nil {
				out = append([]any(nil), x...)
			}
			out[i] = n
		}
		if out == nil {
			return x, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

// str expands the placeholders of one string value found at key.
func (r *resolver) str(s, key string) (any, error) {
	if len(r.stack) > maxPlaceholderDepth {
		return nil, r.fail(key, "placeholders nest deeper than %d (%s); shorten the chain", maxPlaceholderDepth, strings.Join(r.stack, " -> "))
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := closing(s, i+2)
		if end < 0 {
			return nil, r.fail(key, "unterminated placeholder in %q: close it with } or write $${ for a literal ${", s)
		}
		v, err := r.expand(s[i+2:end], key)
		if err != nil {
			return nil, err
		}
		if i == 0 && end == len(s)-1 {
			return v, nil // the whole value is one placeholder: keep its type
		}
		switch x := v.(type) {
		case map[string]any, []any:
			return nil, &TypeError{Key: key, Source: r.from(key), Expected: "text to splice into " + fmt.Sprintf("%q", s), Value: x}
		case string:
			b.WriteString(x)
		default:
			fmt.Fprint(&b, x)
		}
		if b.Len() > maxResolvedLen {
			return nil, r.fail(key, "placeholders expand past %d bytes", maxResolvedLen)
		}
		i = end + 1
	}
	return b.String(), nil
}

// closing returns the index of the '}' that ends a placeholder whose body
// starts at from, allowing nested ${...} in defaults; -1 if there is none.
func closing(s string, from int) int {
	depth := 0
	for i := from; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

func (r *resolver) expand(body, key string) (any, error) {
	name, def, hasDef := strings.Cut(body, ":")
	if name == "" {
		return nil, r.fail(key, "empty placeholder name in ${%s}: write ${NAME} or ${NAME:default}", body)
	}
	if v, ok := r.done[name]; ok {
		return v, nil
	}
	if raw, ok := lookup(r.root, name); ok {
		for i, n := range r.stack {
			if strings.EqualFold(n, name) {
				keys := r.cycle(i)
				return nil, r.fail(keys[0], "placeholders form a cycle: %s -> %s; give one of these keys a value that does not refer back",
					strings.Join(keys, " -> "), keys[0])
			}
		}
		r.stack = append(r.stack, name)
		v, _, err := r.value(raw, name)
		r.stack = r.stack[:len(r.stack)-1]
		if err != nil {
			return nil, err
		}
		if r.done == nil {
			r.done = map[string]any{}
		}
		r.done[name] = v
		return v, nil
	}
	if r.env != nil {
		if v, ok := r.env(name); ok {
			return v, nil
		}
	}
	if hasDef {
		r.stack = append(r.stack, "${"+name+"}")
		v, _, err := r.value(def, key)
		r.stack = r.stack[:len(r.stack)-1]
		return v, err
	}
	return nil, &MissingKeyError{Key: key, Placeholder: name, Source: r.from(key)}
}

// cycle returns the keys of the cycle that starts at r.stack[i], spelled as
// the config spells them, beginning with the least so that the same cycle
// reads the same whichever key the resolver met first; the defaults it went
// through are left out.
func (r *resolver) cycle(i int) []string {
	var keys []string
	first := 0
	for _, n := range r.stack[i:] {
		if strings.HasPrefix(n, "${") {
			continue
		}
		if spelled, ok := setBy(r.root, n); ok {
			n = spelled
		}
		if len(keys) > 0 && strings.ToLower(n) < strings.ToLower(keys[first]) {
			first = len(keys)
		}
		keys = append(keys, n)
	}
	return slices.Concat(keys[first:], keys[:first])
}

func (r *resolver) from(key string) string {
	if r.origin == nil {
		return ""
	}
	return r.origin(key)
}

// fail returns a *SyntaxError about the placeholders of the value at key,
// naming where that value came from.
func (r *resolver) fail(key, format string, args ...any) error {
	return &SyntaxError{Document: r.from(key), Err: fmt.Errorf("key %q: "+format, append([]any{key}, args...)...)}
}
