package sqlstore

import (
	"context"
	"crypto/rand"
	"strconv"
	"strings"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const eventColumns = `id, time, type, user_id, client_id, ip, detail, factor, purpose, blocked`

// defaultEventLimit is how many events Events returns when the filter sets
// no limit.
const defaultEventLimit = 100

func scanEvent(row scanner) (*storage.Event, error) {
	var e storage.Event
	var typ string
	err := row.Scan(&e.ID, timeCol{&e.Time}, &typ, stringCol{&e.UserID}, &e.ClientID, &e.IP, &e.Detail,
		&e.Factor, &e.Purpose, &e.Blocked)
	if err != nil {
		return nil, err
	}
	e.Type = storage.EventType(typ)
	return &e, nil
}

// AddEvent appends e to the audit log, first setting an empty e.ID to a
// random one; storage.ErrConflict if its id is taken. An empty UserID is
// stored as NULL.
func (s *Store) AddEvent(ctx context.Context, e *storage.Event) error {
	if e.ID == "" {
		e.ID = rand.Text()
	}
	return s.exec(ctx, "add event", `INSERT INTO audit_events (`+eventColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		e.ID, millis(e.Time), string(e.Type), nullString(e.UserID), e.ClientID, e.IP, e.Detail, e.Factor, e.Purpose, e.Blocked)
}

// Events returns the events matching every non-zero field of f (Since
// inclusive), newest first (by time, then id, both descending), at most
// f.Limit of them; a limit of 0 or less means 100.
func (s *Store) Events(ctx context.Context, f storage.EventFilter) ([]storage.Event, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if f.UserID != "" {
		add("user_id =", f.UserID)
	}
	if f.IP != "" {
		add("ip =", f.IP)
	}
	if f.Type != "" {
		add("type =", string(f.Type))
	}
	if !f.Since.IsZero() {
		add("time >=", millis(f.Since))
	}
	if !f.Before.IsZero() {
		args = append(args, millis(f.Before))
		t := "$" + strconv.Itoa(len(args))
		if f.BeforeID == "" {
			where = append(where, "time < "+t)
		} else {
			args = append(args, f.BeforeID)
			where = append(where, "(time < "+t+" OR (time = "+t+" AND id < $"+strconv.Itoa(len(args))+"))")
		}
	}
	q := `SELECT ` + eventColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultEventLimit
	}
	args = append(args, limit)
	q += ` ORDER BY time DESC, id DESC LIMIT $` + strconv.Itoa(len(args))

	return queryAll(ctx, s, "events", scanEvent, q, args...)
}
