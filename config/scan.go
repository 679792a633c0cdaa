package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/internal/editdist"
)

// Validator is implemented by configuration structs (at any depth) that can
// check themselves. Scan calls Validate after a struct's fields are filled,
// children before parents, and only when those fields decoded cleanly.
type Validator interface {
	Validate() error
}

// Struct tags understood by Scan:
//
//	config:"name"            key of the field (default: the field name,
//	                         matched case-insensitively)
//	config:"name,required"   the key must be set by some layer or default
//	config:"-"               never filled
//	default:"value"          used when no layer sets the key; written the way
//	                         an environment variable would be ("5s", "a,b")
//
// An embedded struct without a name in its tag is flattened into its
// parent's keys.

var (
	durationType  = reflect.TypeFor[time.Duration]()
	timeType      = reflect.TypeFor[time.Time]()
	unmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
	validatorType = reflect.TypeFor[Validator]()
)

const maxScanErrors = 20

type scanner struct {
	errs    []error
	unknown []unknownKey
	root    string // the key scanned, where other components' sections may sit
	whole   bool   // no other component's section sits at root either (Whole)
}

// unknownKey is a key in a struct's map that no field names.
type unknownKey struct {
	key     string // dotted, as the source spells it
	nearest string // the closest known key, or ""
}

func (s *scanner) fail(err error) {
	if len(s.errs) < maxScanErrors {
		s.errs = append(s.errs, err)
	}
}

// scanValue fills v (a non-nil pointer) from node found at key.
func scanValue(node any, present bool, v any, key string) error {
	_, err := scanKeys(node, present, v, key, false)
	return err
}

// scanKeys is scanValue that also returns the keys no field named, sorted.
func scanKeys(node any, present bool, v any, key string, whole bool) ([]unknownKey, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return nil, fmt.Errorf("config: Scan needs a non-nil pointer, got %T", v)
	}
	s := &scanner{root: key, whole: whole}
	s.decode(node, present, rv.Elem(), key, "", false)
	sort.Slice(s.unknown, func(i, j int) bool { return s.unknown[i].key < s.unknown[j].key })
	return s.unknown, errors.Join(s.errs...)
}

func (s *scanner) decode(node any, present bool, v reflect.Value, key, def string, hasDef bool) {
	if node == nil {
		present = false // "key:" with no value in YAML, or null in JSON
	}
	if !present && hasDef {
		node, present = def, true
	}
	t := v.Type()
	if !present {
		if t.Kind() == reflect.Struct && t != timeType {
			s.decodeStruct(nil, v, key)
		}
		return
	}

	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		s.decode(node, true, v.Elem(), key, "", false)
		return
	}

	switch t {
	case durationType:
		s.decodeDuration(node, v, key)
		return
	case timeType:
		s.decodeTime(node, v, key)
		return
	}
	// Text-unmarshalers (net.IP, slog.Level, ...) take scalars; a struct that
	// is one still takes a map the ordinary way.
	if reflect.PointerTo(t).Implements(unmarshalType) && (isScalar(node) || t.Kind() != reflect.Struct) {
		text, ok := scalarText(node)
		if !ok {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node, Err: err})
		}
		return
	}

	switch t.Kind() {
	case reflect.Struct:
		m, ok := node.(map[string]any)
		if !ok {
			s.fail(&TypeError{Key: key, Expected: "a map for " + t.String(), Value: node})
			return
		}
		if s.decodeStruct(m, v, key) < len(m) {
			s.findUnknown(m, t, key)
		}
	case reflect.Map:
		s.decodeMap(node, v, key)
	case reflect.Slice, reflect.Array:
		s.decodeList(node, v, key)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
		v.Set(reflect.ValueOf(deepCopy(node)))
	case reflect.String:
		text, ok := scalarText(node)
		if !ok {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
		v.SetString(text)
	case reflect.Bool:
		switch x := node.(type) {
		case bool:
			v.SetBool(x)
		case string:
			b, err := strconv.ParseBool(strings.TrimSpace(x))
			if err != nil {
				s.fail(&TypeError{Key: key, Expected: "bool", Value: node})
				return
			}
			v.SetBool(b)
		default:
			s.fail(&TypeError{Key: key, Expected: "bool", Value: node})
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := toInt(node)
		if !ok || v.OverflowInt(n) {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := toUint(node)
		if !ok || v.OverflowUint(n) {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, ok := toFloat(node)
		if !ok || v.OverflowFloat(f) {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
		v.SetFloat(f)
	default:
		s.fail(&TypeError{Key: key, Expected: "a supported type, not " + t.String(), Value: node})
	}
}

func isScalar(node any) bool {
	switch node.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// scalarText renders a scalar as text, the way it would read in a file.
func scalarText(node any) (string, bool) {
	switch x := node.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case time.Time:
		return x.Format(time.RFC3339Nano), true
	case map[string]any, []any, nil:
		return "", false
	}
	if st, ok := node.(fmt.Stringer); ok {
		return st.String(), true
	}
	return fmt.Sprint(node), true
}

func toInt(node any) (int64, bool) {
	switch x := node.(type) {
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case float64:
		if x != math.Trunc(x) || x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 0, 64)
		return n, err == nil
	}
	return 0, false
}

func toUint(node any) (uint64, bool) {
	switch x := node.(type) {
	case int64:
		if x < 0 {
			return 0, false
		}
		return uint64(x), true
	case uint64:
		return x, true
	case float64:
		if x != math.Trunc(x) || x < 0 || x >= math.MaxUint64 {
			return 0, false
		}
		return uint64(x), true
	case string:
		n, err := strconv.ParseUint(strings.TrimSpace(x), 0, 64)
		return n, err == nil
	}
	return 0, false
}

func toFloat(node any) (float64, bool) {
	switch x := node.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

func (s *scanner) decodeDuration(node any, v reflect.Value, key string) {
	const want = `duration such as "1.5s"`
	switch x := node.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			s.fail(&TypeError{Key: key, Expected: want, Value: node})
			return
		}
		v.SetInt(int64(d))
	case int64:
		// A bare number has no unit; only zero means the same in every unit.
		if x != 0 {
			s.fail(&TypeError{Key: key, Expected: want + " (a number needs a unit)", Value: node})
			return
		}
		v.SetInt(0)
	default:
		s.fail(&TypeError{Key: key, Expected: want, Value: node})
	}
}

func (s *scanner) decodeTime(node any, v reflect.Value, key string) {
	const want = "RFC 3339 time"
	switch x := node.(type) {
	case time.Time:
		v.Set(reflect.ValueOf(x))
	case string:
		tm, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
		if err != nil {
			s.fail(&TypeError{Key: key, Expected: want, Value: node})
			return
		}
		v.Set(reflect.ValueOf(tm))
	default:
		s.fail(&TypeError{Key: key, Expected: want, Value: node})
	}
}

type fieldTag struct {
	name     string
	required bool
	skip     bool
	squash   bool
}

func parseTag(f reflect.StructField) fieldTag {
	tag, ok := f.Tag.Lookup("config")
	if tag == "-" {
		return fieldTag{skip: true}
	}
	name, opts, _ := strings.Cut(tag, ",")
	ft := fieldTag{name: name}
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == "required" {
			ft.required = true
		}
	}
	if ft.name == "" {
		ft.name = f.Name
		ft.squash = f.Anonymous && (!ok || name == "")
	}
	return ft
}

// decodeStruct fills v's fields from m; a nil m means the section is absent,
// which still applies defaults and reports required keys. It returns how
// many fields found their key in m, so that the caller looks for unknown
// keys only when some key went unread.
func (s *scanner) decodeStruct(m map[string]any, v reflect.Value, key string) (found int) {
	before := len(s.errs)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := parseTag(f)
		if tag.skip {
			continue
		}
		fv := v.Field(i)
		if tag.squash {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				if fv.IsNil() {
					if !fv.CanSet() {
						continue
					}
					fv.Set(reflect.New(ft))
				}
				fv = fv.Elem()
			}
			if ft.Kind() == reflect.Struct {
				found += s.decodeStruct(m, fv, key)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		var node any
		var present bool
		name := tag.name
		if m != nil {
			var k string
			if k, node, present = findKey(m, tag.name); present {
				name = k // errors quote the key as the document spells it
				found++
			}
			present = present && node != nil
		}
		fkey := join(key, name)
		def, hasDef := f.Tag.Lookup("default")
		if !present && !hasDef && tag.required {
			s.fail(&MissingKeyError{Key: fkey})
			continue
		}
		before := len(s.errs)
		s.decode(node, present, fv, fkey, def, hasDef)
		if !present && hasDef {
			// The bad value is the program's own: say so.
			for _, err := range s.errs[before:] {
				if te, ok := err.(*TypeError); ok && te.Source == "" {
					te.Source = fmt.Sprintf("default tag of %s.%s", t, f.Name)
				}
			}
		}
	}
	if len(s.errs) == before && v.CanAddr() && v.Addr().Type().Implements(validatorType) {
		if err := v.Addr().Interface().(Validator).Validate(); err != nil {
			s.fail(&ValidationError{Key: key, Err: err})
		}
	}
	return found
}

func (s *scanner) decodeMap(node any, v reflect.Value, key string) {
	t := v.Type()
	m, ok := node.(map[string]any)
	if !ok {
		s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
		return
	}
	kt := t.Key()
	out := reflect.MakeMapWithSize(t, len(m))
	for k, e := range m {
		kv := reflect.New(kt).Elem()
		s.decode(k, true, kv, join(key, k)+" (as a map key)", "", false)
		ev := reflect.New(t.Elem()).Elem()
		s.decode(e, true, ev, join(key, k), "", false)
		out.SetMapIndex(kv, ev)
	}
	v.Set(out)
}

func (s *scanner) decodeList(node any, v reflect.Value, key string) {
	t := v.Type()
	var items []any
	switch x := node.(type) {
	case []any:
		items = x
	case string:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(x))
			return
		}
		// Flat sources (environment, flags, properties) spell lists as
		// "a,b,c".
		if strings.TrimSpace(x) != "" {
			for _, p := range strings.Split(x, ",") {
				items = append(items, strings.TrimSpace(p))
			}
		}
	case map[string]any:
		// "hosts.0=a", "hosts.1=b" in flat sources.
		var ok bool
		if items, ok = indexedList(x); !ok {
			s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
			return
		}
	default:
		s.fail(&TypeError{Key: key, Expected: t.String(), Value: node})
		return
	}
	if t.Kind() == reflect.Array {
		if len(items) > t.Len() {
			s.fail(&TypeError{Key: key, Expected: fmt.Sprintf("%s (at most %d items)", t, t.Len()), Value: node})
			return
		}
		v.SetZero()
		for i, e := range items {
			s.decode(e, true, v.Index(i), join(key, strconv.Itoa(i)), "", false)
		}
		return
	}
	out := reflect.MakeSlice(t, len(items), len(items))
	for i, e := range items {
		s.decode(e, true, out.Index(i), join(key, strconv.Itoa(i)), "", false)
	}
	v.Set(out)
}

// indexedList turns {"0": a, "1": b} into [a, b]; any other key fails.
func indexedList(m map[string]any) ([]any, bool) {
	idx := make([]int, 0, len(m))
	for k := range m {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || n >= len(m) {
			return nil, false
		}
		idx = append(idx, n)
	}
	sort.Ints(idx)
	out := make([]any, len(m))
	for i, n := range idx {
		if n != i {
			return nil, false
		}
		out[i] = m[strconv.Itoa(n)]
	}
	return out, true
}

const maxUnknownKeys = 20

// findUnknown records the keys of m that no field of t (a struct type filled
// from m) names.
func (s *scanner) findUnknown(m map[string]any, t reflect.Type, key string) {
	names := knownNames(t, nil)
	for k := range m {
		if len(s.unknown) >= maxUnknownKeys {
			return
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k) }) {
			continue
		}
		u := unknownKey{key: join(key, k)}
		n := nearest(k, names)
		if n != "" {
			u.nearest = join(key, n)
		}
		if _, section := m[k].(map[string]any); section && key == s.root && !s.whole && n == "" {
			// A section beside the bound type's keys ("orders" next to a
			// root-bound "registry" and "listen") usually belongs to
			// another component, bound later or read with Get; only one
			// spelled like a known key is likely a typo.
			continue
		}
		s.unknown = append(s.unknown, u)
	}
}

// knownNames appends the keys the fields of struct type t read, including
// those of embedded structs flattened into it.
func knownNames(t reflect.Type, names []string) []string {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := parseTag(f)
		if tag.skip {
			continue
		}
		if tag.squash {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				names = knownNames(ft, names)
				continue
			}
		}
		if f.IsExported() {
			names = append(names, tag.name)
		}
	}
	return names
}

// nearest returns the name closest to k in spelling, ignoring case, if it is
// close enough to be a likely typo: at most one edit per three letters.
func nearest(k string, names []string) string {
	best, bestD := "", max(1, len(k)/3)+1
	lk := strings.ToLower(k)
	for _, n := range names {
		if d := editdist.Distance(lk, strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}
