package storage

import (
	"context"
	"time"
)

// BlockCounter counts running blocks without listing them, so that a
// metrics scrape costs one aggregate query however many addresses an
// attack has blocked. AttemptStore includes it.
type BlockCounter interface {
	// CountBlocks returns, for each prefix, how many counters whose key
	// starts with it (literally, case-sensitively) are blocked at now.
	CountBlocks(ctx context.Context, prefixes []string, now time.Time) ([]int, error)
}
