package lti

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// NonceStore records nonces that have been used. Implementations must be
// bounded: entries expire.
type NonceStore interface {
	// UseNonce records nonce under scope until expires and returns ErrReplay
	// (wrapped or as is) if it was already recorded and has not expired.
	UseNonce(ctx context.Context, scope, nonce string, expires time.Time) error
}

// DefaultNonceCapacity is the number of nonces a [MemoryNonceStore] keeps
// when its Max is zero.
const DefaultNonceCapacity = 100_000

// MemoryNonceStore is a [NonceStore] in process memory, for tests and for a
// single process that may forget nonces when it restarts. Production uses the
// database, so that replay protection survives a restart and is shared by
// every replica.
//
// Expired entries are swept at most once a minute. When Max entries are held
// and none has expired, the oldest recorded entry is evicted: a replay of that
// nonce would then go unnoticed, so Max must exceed the launches expected
// within one timestamp window. The zero value is ready to use.
type MemoryNonceStore struct {
	// Max is the most entries held. If zero, DefaultNonceCapacity is used.
	Max int
	// Now returns the current time. If nil, time.Now is used. Expiry times
	// come from the verifier, so both should use the same clock.
	Now func() time.Time

	// mu protects the fields below.
	mu        sync.Mutex
	seen      map[nonceKey]*list.Element
	order     *list.List // of *nonceEntry, oldest recorded first
	lastSweep time.Time
}

type nonceKey struct{ scope, nonce string }

type nonceEntry struct {
	key     nonceKey
	expires time.Time
}

// UseNonce implements [NonceStore].
func (s *MemoryNonceStore) UseNonce(
	_ context.Context, scope, nonce string, expires time.Time,
) error {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	max := s.Max
	if max <= 0 {
		max = DefaultNonceCapacity
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[nonceKey]*list.Element)
		s.order = list.New()
	}
	// A full sweep is linear; when the store is full, sweep at most once a
	// second so a flood cannot make every insert linear.
	since := now.Sub(s.lastSweep)
	if since >= time.Minute || len(s.seen) >= max && since >= time.Second {
		s.sweepLocked(now)
	}
	k := nonceKey{scope, nonce}
	if el, ok := s.seen[k]; ok {
		if now.Before(el.Value.(*nonceEntry).expires) {
			return ErrReplay
		}
		s.order.Remove(el)
		delete(s.seen, k)
	}
	for len(s.seen) >= max {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.seen, oldest.Value.(*nonceEntry).key)
	}
	s.seen[k] = s.order.PushBack(&nonceEntry{key: k, expires: expires})
	return nil
}

// Len returns the number of entries held, expired or not.
func (s *MemoryNonceStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func (s *MemoryNonceStore) sweepLocked(now time.Time) {
	s.lastSweep = now
	for el := s.order.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*nonceEntry); !now.Before(e.expires) {
			s.order.Remove(el)
			delete(s.seen, e.key)
		}
		el = next
	}
}
