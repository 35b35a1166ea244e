package password

import (
	"errors"
	"runtime"
	"time"
)

// ErrBusy is returned by Verify when every hashing slot stayed taken for
// the gate's whole wait: the caller answers "busy, try again" (503) and
// must not count it as a failed attempt.
var ErrBusy = errors.New("password: too many password checks at once")

// HashMemoryBudget is the memory the default gate lets concurrent argon2id
// hashes use: 8 × 19 MiB with the OWASP parameters.
const HashMemoryBudget = 152 << 20 // bytes

// DefaultWait is how long Verify waits for a free slot before ErrBusy.
const DefaultWait = 250 * time.Millisecond

// DefaultSlots is the number of concurrent hashes the default gate allows
// for p: one per CPU (at least two), but no more than HashMemoryBudget
// holds — each argon2id hash allocates p.Memory KiB.
func DefaultSlots(p Params) int {
	n := max(2, runtime.NumCPU())
	if per := int64(p.Memory) << 10; per > 0 {
		n = min(n, int(max(1, HashMemoryBudget/per)))
	}
	return n
}

// Gate is a semaphore that bounds how many argon2id hashes run at once, so
// that a burst of sign-ins queues briefly or is turned away instead of
// exhausting memory (slots × memory per hash stays within the budget).
type Gate struct {
	slots chan struct{}
	wait  time.Duration
}

// NewGate returns a gate of n slots (at least 1); acquire waits at most
// wait for one.
func NewGate(n int, wait time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(1, n)), wait: wait}
}

// Slots is the number of hashes the gate lets run at once.
func (g *Gate) Slots() int { return cap(g.slots) }

// acquire takes a slot, waiting at most the gate's wait; it returns
// ErrBusy if none freed up. A nil gate admits everyone.
func (g *Gate) acquire() (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return g.held(), nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.held(), nil
	case <-t.C:
		return nil, ErrBusy
	}
}

// acquireWait takes a slot, waiting as long as it takes: for hashing a new
// password (registration, change, reset), which is already rate limited
// and should not fail for being busy. Waiting goroutines hold no argon2
// memory, so the bound on memory holds.
func (g *Gate) acquireWait() (release func()) {
	if g == nil {
		return func() {}
	}
	g.slots <- struct{}{}
	return g.held()
}

// testHook, set by tests only, runs when a slot is taken; the function it
// returns runs before the slot is given back.
var testHook func() func()

// held returns the release of a slot just taken.
func (g *Gate) held() func() {
	if testHook != nil {
		done := testHook()
		return func() { done(); <-g.slots }
	}
	return func() { <-g.slots }
}
