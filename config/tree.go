package config

import (
	"strings"
)

// Trees are nested map[string]any as decoders produce them. Once built they
// are never modified, which is what lets readers share them without locks.

// findKey looks key up in m: an exact match first, then an ASCII
// case-insensitive one, so that "db.maxConns" from YAML and "db.maxconns"
// from the environment name the same setting.
func findKey(m map[string]any, key string) (string, any, bool) {
	if v, ok := m[key]; ok {
		return key, v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return k, v, true
		}
	}
	return "", nil, false
}

// lookup walks a dotted path. The empty path is the root.
func lookup(root map[string]any, path string) (any, bool) {
	if path == "" {
		return root, true
	}
	var cur any = root
	for path != "" {
		seg := path
		if i := strings.IndexByte(path, '.'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		_, cur, ok = findKey(m, seg)
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// merge returns dst overlaid with src: maps merge key by key, anything else
// in src replaces what dst had. Neither input is modified; unchanged
// sub-trees are shared.
func merge(dst, src map[string]any) map[string]any {
	if len(dst) == 0 {
		return src
	}
	if len(src) == 0 {
		return dst
	}
	out := make(map[string]any, len(dst)+len(src))
	// Lower-cased index of out's keys, so that matching stays linear.
	fold := make(map[string]string, len(dst))
	for k, v := range dst {
		out[k] = v
		fold[strings.ToLower(k)] = k
	}
	for k, v := range src {
		lk := strings.ToLower(k)
		key, ok := fold[lk]
		if !ok {
			out[k] = v
			fold[lk] = k
			continue
		}
		old := out[key]
		om, oldIsMap := old.(map[string]any)
		nm, newIsMap := v.(map[string]any)
		if oldIsMap && newIsMap {
			out[key] = merge(om, nm)
			continue
		}
		// Keep one spelling per key; the later layer's wins.
		delete(out, key)
		out[k] = v
		fold[lk] = k
	}
	return out
}

// deepCopy returns a copy that callers may modify without touching a shared
// tree.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}
