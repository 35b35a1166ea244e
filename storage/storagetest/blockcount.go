package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// blockCountTests are the conformance tests of storage.BlockCounter.
var blockCountTests = []struct {
	name string
	fn   func(*testing.T, storage.Store)
}{
	{"CountBlocks", testCountBlocks},
	{"CountBlocksLiteral", testCountBlocksLiteral},
}

func testCountBlocks(t *testing.T, s storage.Store) {
	ctx := t.Context()
	prefixes := []string{"otp:ip:", "otp:acct:", "pwd:ip:"}
	got, err := s.CountBlocks(ctx, prefixes, epoch())
	check(t, err)
	if want := []int{0, 0, 0}; !slices.Equal(got, want) {
		t.Fatalf("CountBlocks of an empty store = %v, want %v", got, want)
	}
	if got, err := s.CountBlocks(ctx, nil, epoch()); err != nil || len(got) != 0 {
		t.Errorf("CountBlocks(nil) = %v, %v; want nothing", got, err)
	}

	l := limit()
	fail := func(key string, n int, at time.Time) {
		t.Helper()
		for range n {
			_, err := s.RecordFailure(ctx, key, l, at)
			check(t, err)
		}
	}
	fail("otp:ip:192.0.2.1", 3, epoch())
	fail("otp:ip:192.0.2.2", 3, epoch())
	fail("otp:ip:192.0.2.3", 2, epoch())                    // counting, not blocked
	fail("otp:ip:192.0.2.4", 3, epoch().Add(-time.Hour))    // block over
	fail("otp:acct:alice@example.com", 3, epoch())          // another kind
	fail("pwd:ip:192.0.2.1", 3, epoch().Add(5*time.Minute)) // later block
	fail("xotp:ip:192.0.2.9", 3, epoch())                   // not a prefix match

	tests := []struct {
		at   time.Time
		want []int
	}{
		{epoch().Add(time.Minute), []int{2, 1, 1}},
		{epoch().Add(10 * time.Minute), []int{0, 0, 1}},
		{epoch().Add(15 * time.Minute), []int{0, 0, 0}},
	}
	for _, tt := range tests {
		got, err := s.CountBlocks(ctx, prefixes, tt.at)
		check(t, err)
		if !slices.Equal(got, tt.want) {
			t.Errorf("CountBlocks at %v = %v, want %v", tt.at, got, tt.want)
		}
	}
}

// testCountBlocksLiteral checks that LIKE's metacharacters and letter case
// in a prefix match only themselves.
func testCountBlocksLiteral(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, k := range []string{"a_b:1", "axb:1", "a%:2", "A_B:3"} {
		for range 3 {
			_, err := s.RecordFailure(ctx, k, limit(), epoch())
			check(t, err)
		}
	}
	got, err := s.CountBlocks(ctx, []string{"a_b:", "a%", "a"}, epoch())
	check(t, err)
	if want := []int{1, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("CountBlocks = %v, want %v", got, want)
	}
}
