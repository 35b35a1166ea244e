package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// CountBlocks counts the counters blocked at now whose key starts with
// each of prefixes, in one aggregate query over the blocked rows (an index
// range on blocked_until). LIKE narrows the keys down and a comparison of
// the key's head makes the match exact, as in ClearBlocks.
func (s *Store) CountBlocks(ctx context.Context, prefixes []string, now time.Time) ([]int, error) {
	if len(prefixes) == 0 {
		return nil, nil
	}
	var b strings.Builder
	args := []any{millis(now)}
	for i, p := range prefixes {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, likeEscaper.Replace(p)+"%", p)
		like, exact := "$"+strconv.Itoa(len(args)-1), "$"+strconv.Itoa(len(args))
		b.WriteString("COALESCE(SUM(CASE WHEN key LIKE " + like + ` ESCAPE '\' AND substr(key, 1, length(` +
			exact + ")) = " + exact + " THEN 1 ELSE 0 END), 0)")
	}
	counts := make([]int64, len(prefixes))
	dest := make([]any, len(prefixes))
	for i := range counts {
		dest[i] = &counts[i]
	}
	err := s.db.QueryRowContext(ctx, "SELECT "+b.String()+
		" FROM attempt_counters WHERE blocked_until > $1", args...).Scan(dest...)
	if err != nil {
		return nil, s.fail("count blocks", err)
	}
	out := make([]int, len(counts))
	for i, n := range counts {
		out[i] = int(n)
	}
	return out, nil
}
