package password

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// More parallel Verify calls than slots: the gate never lets more than n
// hashes run at once, and the excess gets ErrBusy after about the wait,
// not after queueing behind every hash.
func TestGateBoundsConcurrentHashes(t *testing.T) {
	const n, callers = 2, 24
	const wait = 50 * time.Millisecond
	h := &Hasher{Params: Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	encoded := h.Hash("right password")
	h.Gate = NewGate(n, wait)

	var running, peak atomic.Int32
	hold := make(chan struct{})
	// Count and hold hashes inside the gate: wrap acquire/release by
	// taking the slot through a hook.
	testHook = func() func() {
		cur := running.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		<-hold // keep the slot until the busy callers are turned away
		return func() { running.Add(-1) }
	}
	defer func() { testHook = nil }()

	var wg sync.WaitGroup
	var busy, checked atomic.Int32
	var slowestBusy atomic.Int64
	for range callers {
		wg.Go(func() {
			start := time.Now()
			err := h.Verify(encoded, "wrong password")
			switch {
			case errors.Is(err, ErrBusy):
				busy.Add(1)
				d := int64(time.Since(start))
				for {
					s := slowestBusy.Load()
					if d <= s || slowestBusy.CompareAndSwap(s, d) {
						break
					}
				}
			case errors.Is(err, ErrMismatch):
				checked.Add(1)
			default:
				t.Errorf("Verify = %v", err)
			}
		})
	}
	// Every caller beyond the n holding slots gives up after the wait.
	deadline := time.Now().Add(5 * time.Second)
	for busy.Load() < callers-n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(hold)
	wg.Wait()

	if got := peak.Load(); got != n {
		t.Errorf("peak concurrent hashes = %d, want %d", got, n)
	}
	if busy.Load() != callers-n || checked.Load() != n {
		t.Errorf("busy %d, checked %d; want %d and %d", busy.Load(), checked.Load(), callers-n, n)
	}
	if s := time.Duration(slowestBusy.Load()); s > wait+500*time.Millisecond {
		t.Errorf("slowest busy answer took %v, want about %v", s, wait)
	}
	t.Logf("slots %d, callers %d: peak %d, busy %d, checked %d, slowest busy answer %v",
		n, callers, peak.Load(), busy.Load(), checked.Load(), time.Duration(slowestBusy.Load()).Round(time.Millisecond))
}

// Without a hook, real hashes in parallel never exceed the slots, and
// callers that wait long enough all get their answer.
func TestGateRealHashes(t *testing.T) {
	const n, callers = 3, 12
	h := &Hasher{Params: Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	encoded := h.Hash("right password")
	h.Gate = NewGate(n, 10*time.Second)
	var running, peak atomic.Int32
	testHook = func() func() {
		cur := running.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		return func() { running.Add(-1) }
	}
	defer func() { testHook = nil }()
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			pw := "wrong password"
			if i%2 == 0 {
				pw = "right password"
			}
			err := h.Verify(encoded, pw)
			if (i%2 == 0) != (err == nil) || (err != nil && !errors.Is(err, ErrMismatch)) {
				t.Errorf("Verify(%q) = %v", pw, err)
			}
			h.Hash(pw) // Hash waits for a slot too
		})
	}
	wg.Wait()
	if p := peak.Load(); p > n || p < 1 {
		t.Errorf("peak concurrent hashes = %d, want 1..%d", p, n)
	}
	t.Logf("slots %d, callers %d: peak %d", n, callers, peak.Load())
}

func TestDefaultSlots(t *testing.T) {
	n := DefaultSlots(OWASP)
	if n < 1 || int64(n)*int64(OWASP.Memory)<<10 > HashMemoryBudget {
		t.Errorf("DefaultSlots(OWASP) = %d: %d MiB over the %d MiB budget", n, n*19, HashMemoryBudget>>20)
	}
	if got := DefaultSlots(Params{Memory: 1 << 20}); got != 1 { // 1 GiB per hash
		t.Errorf("DefaultSlots(1 GiB) = %d, want 1", got)
	}
	if (*Gate)(nil).acquireWait() == nil {
		t.Error("nil gate")
	}
}

// A slot holds one hash: Verify and VerifyDummy give it back when the hash
// is done, before the caller's Release, so that what the caller does after
// the check does not keep the next password waiting; Release after them
// gives nothing back twice.
func TestSlotFreedWhenHashDone(t *testing.T) {
	h := &Hasher{Params: Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
	encoded := h.Hash("right password")
	h.dummy = encoded
	h.Gate = NewGate(1, 10*time.Millisecond)
	for _, check := range []struct {
		name string
		do   func(s *Slot)
	}{
		{"Verify", func(s *Slot) {
			if err := s.Verify(encoded, "right password"); err != nil {
				t.Errorf("Verify = %v", err)
			}
		}},
		{"VerifyDummy", func(s *Slot) { s.VerifyDummy("any password") }},
	} {
		s, err := h.Acquire()
		if err != nil {
			t.Fatalf("%s: Acquire = %v", check.name, err)
		}
		check.do(s)
		next, err := h.Acquire()
		if err != nil {
			t.Fatalf("after %s, before Release: Acquire = %v, want the slot free", check.name, err)
		}
		s.Release() // the caller's deferred Release: a no-op now
		if _, err := h.Acquire(); !errors.Is(err, ErrBusy) {
			t.Fatalf("after %s: a second Release freed the slot the next check holds (Acquire = %v)", check.name, err)
		}
		next.Release()
	}
}
