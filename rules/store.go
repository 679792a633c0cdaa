package rules

import (
	"sync"
	"sync/atomic"
)

// Store holds the rules in force. Readers load them without locks; a change replaces the
// whole document at once, so a reader never sees half of one.
type Store struct {
	cur atomic.Pointer[Rules]

	mu     sync.Mutex
	nextID int
	subs   map[int]func(*Rules)

	closeOnce sync.Once
	closer    func() error // stops Watch's config; nil for a store made by NewStore
	closeErr  error
}

// NewStore returns a store holding initial (no rules when nil), which must be valid.
func NewStore(initial *Rules) (*Store, error) {
	s := &Store{subs: map[int]func(*Rules){}}
	if initial == nil {
		initial = &Rules{}
	}
	if err := initial.Validate(); err != nil {
		return nil, err
	}
	s.cur.Store(initial)
	return s, nil
}

// Load returns the rules in force. The result must not be changed.
func (s *Store) Load() *Rules { return s.cur.Load() }

// Set validates r and, when it is valid, puts it in force and calls the subscribers;
// an invalid document changes nothing and its error (wrapping ErrInvalid) is returned.
func (s *Store) Set(r *Rules) error {
	if r == nil {
		r = &Rules{}
	}
	if err := r.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(r)
	for _, fn := range s.subs {
		fn(r)
	}
	return nil
}

// Subscribe calls fn with the rules each time they change, from the goroutine that
// changed them, one call at a time; fn must not block or call Set. cancel stops the calls.
func (s *Store) Subscribe(fn func(*Rules)) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextID
	s.nextID++
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

// Close stops following the sources of a Store made by Watch and waits for its goroutines;
// the rules in force stay. It does nothing for a Store made by NewStore, and is safe to call
// more than once. Never call it from a subscriber or an error handler.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.closer != nil {
			s.closeErr = s.closer()
		}
	})
	return s.closeErr
}
