package config

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
)

// Value is a typed, always-valid view of one key of a Config, kept current as
// the sources change. Readers call Load from any goroutine without locks;
// each reload builds a fresh *T and swaps the pointer, so a reader holds
// either the old value or the new one, never a mix.
type Value[T any] struct {
	key      string
	validate func(*T) error
	whole    bool // Whole
	ptr      atomic.Pointer[T]

	// raw and present are what ptr was decoded from; guarded by Config.mu.
	raw     any
	present bool

	obsMu  sync.Mutex
	nextID int
	obs    []observer[T]
}

type observer[T any] struct {
	id int
	fn func(old, new *T)
}

// BindOption configures Bind.
type BindOption func(*bindOptions)

type bindOptions struct {
	validate func(any) error
	whole    bool
}

// Whole says that T describes every key under the bound key. Without it, a section right
// under the key that no field names and no field is spelled like ("orders" beside a
// root-bound "registry" and "listen") is taken for another component's and left alone;
// with it, that section is an unknown key like any other: logged once, or with StrictKeys
// an *UnknownKeyError. For a document of its own, such as a gateway's routes or the
// governance rules, where "rules: {overrides: ...}" can only be a mistake.
func Whole() BindOption { return func(o *bindOptions) { o.whole = true } }

// WithValidator adds a check run on every candidate value, after the struct's
// own Validate methods. A value it rejects is never stored.
func WithValidator[T any](fn func(*T) error) BindOption {
	return func(o *bindOptions) {
		o.validate = func(v any) error {
			t, ok := v.(*T)
			if !ok {
				return fmt.Errorf("WithValidator[%T] given to Bind of %T", (*T)(nil), v)
			}
			return fn(t)
		}
	}
}

// Bind decodes the sub-tree at key ("" for the whole config) into a new T,
// validates it and keeps it current: every later change that touches key is
// decoded and validated before it is stored, and a change that fails is
// rejected as a whole (no other Value or key moves either). Bind returns the
// same errors as ScanKey when the live config does not fit T.
//
// T describes the whole sub-tree at key: a key under it that no field of T
// names (a typo, a setting no longer read) is logged once as a warning
// naming the key, its source and the nearest known key, or with StrictKeys
// rejected. Keys on the path of another Bind's key are left to that Value.
func Bind[T any](c *Config, key string, opts ...BindOption) (*Value[T], error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var bo bindOptions
	for _, o := range opts {
		o(&bo)
	}
	v := &Value[T]{key: key}
	if bo.validate != nil {
		v.validate = func(t *T) error { return bo.validate(t) }
	}
	v.whole = bo.whole
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.live.Load()
	raw, present := lookup(st.tree, key)
	t, err := v.decode(c, st, raw, present)
	if err != nil {
		return nil, err
	}
	v.raw, v.present = raw, present
	v.ptr.Store(t)
	c.binds = append(c.binds, v)
	keys := []string{key}
	if old := c.bindKeys.Load(); old != nil {
		keys = append(keys, *old...)
	}
	c.bindKeys.Store(&keys)
	return v, nil
}

// Load returns the current value. Treat it as read-only: it is shared with
// every other reader.
func (v *Value[T]) Load() *T { return v.ptr.Load() }

// OnChange registers fn to be called after each change of the value, with
// the previous and the new value, in the order changes were applied, on the
// goroutine that applies them (not concurrently with itself). fn must not
// block for long and must not call Config.Close. The returned func
// unregisters fn.
func (v *Value[T]) OnChange(fn func(old, new *T)) (cancel func()) {
	v.obsMu.Lock()
	defer v.obsMu.Unlock()
	v.nextID++
	id := v.nextID
	v.obs = append(v.obs, observer[T]{id: id, fn: fn})
	return func() {
		v.obsMu.Lock()
		defer v.obsMu.Unlock()
		for i, o := range v.obs {
			if o.id == id {
				v.obs = append(v.obs[:i:i], v.obs[i+1:]...)
				return
			}
		}
	}
}

// decode builds the value for the sub-tree raw of st; its errors name where
// the bad values came from.
func (v *Value[T]) decode(c *Config, st *state, raw any, present bool) (*T, error) {
	t := new(T)
	unknown, err := scanKeys(raw, present, t, v.key, v.whole)
	if kerr := c.checkUnknown(st, v.key, unknown); kerr != nil {
		err = errors.Join(err, kerr)
	}
	if err == nil && v.validate != nil {
		if verr := v.validate(t); verr != nil {
			err = &ValidationError{Key: v.key, Err: verr}
		}
	}
	if err != nil {
		attribute(err, st.layers)
		return nil, err
	}
	return t, nil
}

// binding is the untyped face of a Value that Config drives.
type binding interface {
	// prepare decodes and validates the value for st. It returns a nil
	// commit when the value's sub-tree did not change. commit stores the
	// value and returns the observer call to make after the lock is
	// released, or nil.
	prepare(c *Config, st *state) (commit func() func(), err error)
}

func (v *Value[T]) prepare(c *Config, st *state) (func() func(), error) {
	raw, present := lookup(st.tree, v.key)
	if present == v.present && reflect.DeepEqual(raw, v.raw) {
		return nil, nil
	}
	t, err := v.decode(c, st, raw, present)
	if err != nil {
		return nil, err
	}
	return func() func() {
		old := v.ptr.Swap(t)
		v.raw, v.present = raw, present
		v.obsMu.Lock()
		obs := append([]observer[T](nil), v.obs...)
		v.obsMu.Unlock()
		if len(obs) == 0 {
			return nil
		}
		return func() {
			for _, o := range obs {
				o.fn(old, t)
			}
		}
	}, nil
}
