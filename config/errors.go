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
)

// SyntaxError reports a document that cannot be decoded. Line and Column are
// 1-based; 0 means the decoder did not say (the properties decoder reports lines only).
type SyntaxError struct {
	Document string
	Line     int
	Column   int
	Err      error
}

func (e *SyntaxError) Error() string {
	pos := e.Document
	if e.Line > 0 {
		pos += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			pos += ":" + strconv.Itoa(e.Column)
		}
	}
	return fmt.Sprintf("config: %s: %v", pos, e.Err)
}

// Unwrap returns the decoder's own error.
func (e *SyntaxError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// TypeError reports a value that does not fit its destination.
type TypeError struct {
	Key      string // dotted path, e.g. "db.pool.size"
	Expected string // e.g. "int", "duration", "[]string"
	Value    any    // the offending value as decoded
	Err      error  // conversion detail, may be nil
}

func (e *TypeError) Error() string {
	msg := fmt.Sprintf("config: key %q: expected %s, got %s", e.Key, e.Expected, describe(e.Value))
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
}

func (e *MissingKeyError) Error() string {
	if e.Placeholder != "" {
		return fmt.Sprintf("config: key %q: placeholder ${%s} is not set and has no default", e.Key, e.Placeholder)
	}
	return fmt.Sprintf("config: required key %q is not set", e.Key)
}

// Is makes errors.Is(err, ErrMissingKey) true.
func (e *MissingKeyError) Is(target error) bool { return target == ErrMissingKey }

// ValidationError wraps an error returned by a Validate method or a
// validator option.
type ValidationError struct {
	Key string // "" for the root
	Err error
}

func (e *ValidationError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("config: validation failed: %v", e.Err)
	}
	return fmt.Sprintf("config: key %q: validation failed: %v", e.Key, e.Err)
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
