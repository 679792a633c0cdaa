package config

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; match them with errors.Is. The typed errors below carry
// the details.
var (
	// ErrSyntax marks a document that its format's decoder rejects.
	ErrSyntax = errors.New("config: syntax error")
	// ErrType marks a value that cannot be converted to its target type.
	ErrType = errors.New("config: type mismatch")
	// ErrMissingKey marks a required key, or a placeholder without default,
	// that no layer sets.
	ErrMissingKey = errors.New("config: missing key")
	// ErrInvalid marks a value rejected by validation.
	ErrInvalid = errors.New("config: invalid value")
	// ErrUnknownKey marks a key that no field of the bound type names, when
	// the Config was made with StrictKeys.
	ErrUnknownKey = errors.New("config: unknown key")
)

// prefix starts every message about a value: the package and, when known,
// where the value came from.
func prefix(source string) string {
	if source == "" {
		return "config: "
	}
	return "config: " + source + ": "
}

// SyntaxError reports a document that cannot be decoded. Line and Column are
// 1-based; 0 means the decoder did not say (the properties decoder reports lines only).
type SyntaxError struct {
	Document string
	Line     int
	Column   int
	Err      error

	key string // the dotted key the problem is about, if one; names its Origins entry
}

func (e *SyntaxError) Error() string {
	pos := e.Document
	if e.Line > 0 {
		pos += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			pos += ":" + strconv.Itoa(e.Column)
		}
	}
	return fmt.Sprintf("%s%v", prefix(pos), e.Err)
}

// Unwrap returns the decoder's own error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// TypeError reports a value that does not fit its destination.
type TypeError struct {
	Key string // dotted path, e.g. "db.pool.size"
	// Source names where the value came from: a document's name (a file
	// path, a remote key), a variable ("env APP_DB__PORT"), a flag ("flag
	// -db.port") or a default tag. Empty when the Config cannot tell.
	Source   string
	Expected string // e.g. "int", "duration", "[]string"
	Value    any    // the offending value as decoded
	Err      error  // conversion detail, may be nil
}

func (e *TypeError) Error() string {
	msg := fmt.Sprintf("%skey %q: expected %s, got %s", prefix(e.Source), e.Key, e.Expected, describe(e.Value))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the conversion error, if any.
func (e *TypeError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrType) true.
func (e *TypeError) Is(target error) bool { return target == ErrType }

// MissingKeyError reports a required key that no layer sets, or a
// placeholder naming a key or variable that does not exist.
type MissingKeyError struct {
	Key string
	// Placeholder is set when the missing name came from ${...} in the
	// value of Key.
	Placeholder string
	// Source names where the value holding the placeholder came from (see
	// TypeError.Source); empty for a required key, which no source sets.
	Source string
}

func (e *MissingKeyError) Error() string {
	if e.Placeholder != "" {
		return fmt.Sprintf("%skey %q: placeholder ${%s} is not set and has no default; set %s or write ${%s:default}",
			prefix(e.Source), e.Key, e.Placeholder, e.Placeholder, e.Placeholder)
	}
	return fmt.Sprintf("config: required key %q is not set", e.Key)
}

// Is makes errors.Is(err, ErrMissingKey) true.
func (e *MissingKeyError) Is(target error) bool { return target == ErrMissingKey }

// ValidationError wraps an error returned by a Validate method or a
// validator option.
type ValidationError struct {
	Key string // "" for the root
	// Source names the documents, variables or flags that set the values
	// under Key, weakest first, separated by ", " (see TypeError.Source).
	Source string
	Err    error
}

func (e *ValidationError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("%svalidation failed: %v", prefix(e.Source), e.Err)
	}
	return fmt.Sprintf("%skey %q: validation failed: %v", prefix(e.Source), e.Key, e.Err)
}

// Unwrap returns the validator's error.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return "string " + strconv.Quote(x)
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	default:
		return fmt.Sprintf("%T %v", v, v)
	}
}

// UnknownKeyError reports a key in a bound sub-tree that no field of the
// bound type names: a typo ("max_con") or a setting the program no longer
// reads. It is an error only with StrictKeys; otherwise it is logged once.
type UnknownKeyError struct {
	Key    string // dotted path as the source spells it
	Source string // see TypeError.Source
	// Nearest is the known key closest in spelling, when one is close.
	Nearest string
}

func (e *UnknownKeyError) Error() string {
	msg := fmt.Sprintf("%sunknown key %q", prefix(e.Source), e.Key)
	if e.Nearest != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", e.Nearest)
	}
	return msg + " (no field reads it; remove it)"
}

// Is makes errors.Is(err, ErrUnknownKey) true.
func (e *UnknownKeyError) Is(target error) bool { return target == ErrUnknownKey }
