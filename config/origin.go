package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Where a value came from. Errors name it so that a user can find the bad
// value: the document, or the variable or flag behind one key of a document
// that gathers many (Document.Origins).

// sourceName names the i-th source of a Config for errors about loading or
// watching it.
func sourceName(i int, s Source) string {
	if st, ok := s.(fmt.Stringer); ok {
		if n := st.String(); n != "" {
			return n
		}
	}
	return fmt.Sprintf("source %d (%T)", i, s)
}

// isNil reports a nil Source, including a typed nil pointer, which would
// panic on its first method call.
func isNil(s Source) bool {
	if s == nil {
		return true
	}
	v := reflect.ValueOf(s)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Interface, reflect.Slice, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// origin names where the value at key comes from: the strongest document
// that sets it, by its Origins entry or its Name. A key inside a value that
// is not a map ("peers.0" of "peers=a,b") comes from where that value comes
// from. It returns "" when no document sets key.
func origin(layers []layer, key string) string {
	if i := strings.Index(key, " ("); i >= 0 {
		key = key[:i] // "weights.x (as a map key)"
	}
	if key == "" {
		return ""
	}
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		for j := len(l.trees) - 1; j >= 0; j-- {
			if path, ok := setBy(l.trees[j], key); ok {
				return l.docs[j].originOf(path)
			}
		}
	}
	return ""
}

// setBy reports whether tree sets key, and the path as the tree spells it
// (of key itself, or of the non-map value that holds it).
func setBy(tree map[string]any, key string) (string, bool) {
	var cur any = tree
	var spelled []string
	for _, seg := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return strings.Join(spelled, "."), len(spelled) > 0
		}
		k, v, ok := findKey(m, seg)
		if !ok {
			return "", false
		}
		spelled = append(spelled, k)
		cur = v
	}
	return strings.Join(spelled, "."), true
}

// originOf names where the value at path (as d spells it) came from: its
// Origins entry, those of the keys under it when it is a section ("env
// APP_DB__HOST, env APP_DB__PORT" for "db"), or else d's name.
func (d Document) originOf(path string) string {
	if o, ok := d.Origins[path]; ok {
		return o
	}
	var under []string
	for k, o := range d.Origins {
		if strings.EqualFold(k, path) {
			return o
		}
		if onPath(path, k) {
			under = append(under, o)
		}
	}
	if len(under) == 0 {
		return d.Name
	}
	sort.Strings(under)
	return capList(under)
}

// capList joins names, eliding all but the first few.
func capList(names []string) string {
	if len(names) > maxOrigins {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:maxOrigins], ", "), len(names)-maxOrigins)
	}
	return strings.Join(names, ", ")
}

const maxOrigins = 4

// origins names every document (or variable, or flag) that sets something
// under key, weakest first, for errors about a whole sub-tree.
func origins(layers []layer, key string) string {
	var out []string
	seen := map[string]bool{}
	add := func(o string) {
		if !seen[o] {
			seen[o] = true
			out = append(out, o)
		}
	}
	for _, l := range layers {
		for j, t := range l.trees {
			d := l.docs[j]
			path := ""
			if key != "" {
				var ok bool
				if path, ok = setBy(t, key); !ok {
					continue
				}
			} else if len(t) == 0 {
				continue
			}
			if len(d.Origins) == 0 {
				add(d.Name)
				continue
			}
			keys := make([]string, 0, len(d.Origins))
			for k := range d.Origins {
				if path == "" || strings.EqualFold(k, path) || len(k) > len(path) && k[len(path)] == '.' && strings.EqualFold(k[:len(path)], path) {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				add(d.Origins[k])
			}
		}
	}
	return capList(out)
}

// attribute fills in the Source of the value errors in err (as ScanKey and
// Bind return them, possibly joined) from the layers the tree was built of.
func attribute(err error, layers []layer) {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			attribute(x, layers)
		}
	case *TypeError:
		if e.Source == "" {
			e.Source = origin(layers, e.Key)
		}
	case *MissingKeyError:
		if e.Source == "" && e.Placeholder != "" {
			e.Source = origin(layers, e.Key)
		}
	case *ValidationError:
		if e.Source == "" {
			e.Source = origins(layers, e.Key)
		}
	case *UnknownKeyError:
		if e.Source == "" {
			e.Source = origin(layers, e.Key)
		}
	}
}
