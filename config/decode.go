package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/magiconair/properties"
	"github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v4"
)

// DecodeFunc turns a document's bytes into a tree of nested
// map[string]any, []any and scalar values. It reports bad input with a
// *SyntaxError carrying Line and Column where known; the Config fills in the
// document's name.
type DecodeFunc func(data []byte) (map[string]any, error)

func builtinDecoders() map[Format]DecodeFunc {
	return map[Format]DecodeFunc{
		YAML:       decodeYAML,
		JSON:       decodeJSON,
		TOML:       decodeTOML,
		Properties: decodeProperties,
	}
}

func blank(data []byte) bool { return len(bytes.TrimSpace(data)) == 0 }

func decodeYAML(data []byte) (map[string]any, error) {
	if blank(data) {
		return map[string]any{}, nil
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		se := &SyntaxError{Err: err}
		var le *yaml.LoadError
		if errors.As(err, &le) {
			se.Line, se.Column = le.Mark.Line, le.Mark.Column
		} else {
			se.Line = lineOf(err.Error())
		}
		return nil, se
	}
	return topMap(raw)
}

// lineOf digs the line number out of a library's message ("... line 3: ..."), for
// libraries that report no position in a typed error.
func lineOf(msg string) int {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 0
	}
	rest := msg[i+len("line "):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(rest[:j])
	if err != nil {
		return 0
	}
	return n
}

func decodeJSON(data []byte) (map[string]any, error) {
	if blank(data) {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	err := dec.Decode(&raw)
	if err == nil {
		// A second value after the first is as wrong as a syntax error.
		var extra any
		if err2 := dec.Decode(&extra); err2 != io.EOF {
			off := dec.InputOffset()
			line, col := lineCol(data, off)
			if err2 == nil {
				err2 = errors.New("unexpected data after the top-level value")
			}
			return nil, &SyntaxError{Line: line, Column: col, Err: err2}
		}
		return topMap(raw)
	}
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = int64(len(data)) + 1 // just past the end
	}
	se2 := &SyntaxError{Err: err}
	if off >= 0 {
		se2.Line, se2.Column = lineCol(data, off)
	}
	return nil, se2
}

// lineCol converts a byte offset into a 1-based line and column (in bytes).
// Decoders report the offset just past the bad byte, so the column names it.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data)) + 1 // just past the end
	}
	if off < 1 {
		return 1, 1
	}
	before := data[:off-1]
	line := 1 + bytes.Count(before, []byte{'\n'})
	col := int(off-1) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func decodeTOML(data []byte) (map[string]any, error) {
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		se := &SyntaxError{Err: err}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			se.Line, se.Column = de.Position()
		}
		return nil, se
	}
	if raw == nil {
		return map[string]any{}, nil
	}
	return topMap(raw)
}

func decodeProperties(data []byte) (map[string]any, error) {
	l := &properties.Loader{Encoding: properties.UTF8, DisableExpansion: true}
	p, err := l.LoadBytes(data)
	if err != nil {
		// The library says "properties: Line N: ..." and nothing finer.
		return nil, &SyntaxError{Line: lineOf(strings.Replace(err.Error(), "Line ", "line ", 1)), Err: err}
	}
	flat := make(map[string]string, p.Len())
	keys := p.Keys()
	for _, k := range keys {
		v, _ := p.Get(k)
		flat[k] = v
	}
	return nestFlat(keys, flat)
}

// nestFlat turns dotted keys of flat formats into nested maps. A key that is
// both a value and a section ("a=1" and "a.b=2") is rejected rather than
// silently dropping one of them, and so is a key with an empty segment
// ("a..b", "a."), which no one could read.
func nestFlat(keys []string, flat map[string]string) (map[string]any, error) {
	root := map[string]any{}
	for _, k := range keys {
		parts := strings.Split(k, ".")
		if slices.Contains(parts, "") {
			return nil, &SyntaxError{key: k, Err: fmt.Errorf("key %q has an empty segment: write keys as a.b.c (in the environment, separate levels with exactly two underscores)", k)}
		}
		m := root
		for i, p := range parts[:len(parts)-1] {
			next, ok := m[p]
			if !ok {
				nm := map[string]any{}
				m[p] = nm
				m = nm
				continue
			}
			nm, isMap := next.(map[string]any)
			if !isMap {
				return nil, &SyntaxError{key: k, Err: fmt.Errorf("key %q is both a value and a section", strings.Join(parts[:i+1], "."))}
			}
			m = nm
		}
		last := parts[len(parts)-1]
		if _, isMap := m[last].(map[string]any); isMap {
			return nil, &SyntaxError{key: k, Err: fmt.Errorf("key %q is both a value and a section", k)}
		}
		m[last] = flat[k]
	}
	return root, nil
}

func topMap(raw any) (map[string]any, error) {
	if raw == nil {
		return map[string]any{}, nil
	}
	v, err := normalize(raw)
	if err != nil {
		return nil, &SyntaxError{Err: err}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &SyntaxError{Line: 1, Column: 1, Err: fmt.Errorf("top level is %s, want a map of keys", describe(v))}
	}
	return m, nil
}

// normalize gives every decoder's output one shape: string-keyed maps, []any,
// int64/uint64/float64 numbers.
func normalize(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = n
		}
		return m, nil
	case []any:
		for i, e := range x {
			n, err := normalize(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint:
		return normalize(uint64(x))
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), nil
		}
		return x, nil
	case float32:
		return float64(x), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(string(x), 10, 64); err == nil {
			return u, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return f, nil
	}
	return v, nil
}
