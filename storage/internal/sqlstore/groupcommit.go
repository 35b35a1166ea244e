package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// querier runs statements: the Store's pools, or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// A groupCommit commits the writes that arrive together in one
// transaction. SQLite lets one writer in at a time, and each commit
// appends every page it changed to the write-ahead log, one write call per
// page and table or index touched: a commit costs far more than the
// statements in it. Writers that queue behind a commit therefore go in
// together with the next one, each in a savepoint of its own, so that one
// that fails is rolled back alone; a writer that finds no commit running
// commits at once, alone, on its own goroutine. Every writer still returns
// only once its changes are committed.
//
// The writer that finds none running leads: it commits its write, then
// hands the writes that queued meanwhile to the first of them, which
// commits them all and hands on in turn. Each writer leads one commit at
// most, so none waits on more than the commit before its own.
type groupCommit struct {
	commits, writes atomic.Int64 // for GroupCommits

	db *stmtDB

	mu       sync.Mutex
	busy     bool         // a commit is running
	pending  []*commitReq // writes queued behind it
	closed   bool
	inflight sync.WaitGroup
}

type commitReq struct {
	ctx  context.Context
	tx   bool // fn's statements must agree: a group of one still needs a transaction
	fn   func(context.Context, querier) error
	err  chan error        // its result, once committed
	lead chan []*commitReq // the group it is to commit, itself first
}

// run runs the request's write on q. A panic becomes its error: it must
// not take the writers queued behind it down.
func (r *commitReq) run(q querier) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("storage: write panicked: %v", p)
		}
	}()
	return r.fn(context.WithoutCancel(r.ctx), q)
}

// maxGroup bounds the writes of one commit.
const maxGroup = 64

var errStoreClosed = errors.New("storage: the store is closed")

func newGroupCommit(db *stmtDB) *groupCommit {
	return &groupCommit{db: db}
}

// do runs fn in a commit and returns its error, or the commit's. fn runs
// on a context that keeps ctx's values but not its cancellation:
// interrupting one statement would roll the whole group back.
func (g *groupCommit) do(ctx context.Context, tx bool, fn func(context.Context, querier) error) error {
	r := &commitReq{ctx: ctx, tx: tx, fn: fn, err: make(chan error, 1), lead: make(chan []*commitReq, 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errStoreClosed
	}
	g.inflight.Add(1)
	defer g.inflight.Done()
	if g.busy {
		g.pending = append(g.pending, r)
		g.mu.Unlock()
		select {
		case err := <-r.err:
			return err
		case group := <-r.lead:
			g.lead(group)
			return <-r.err
		}
	}
	g.busy = true
	g.mu.Unlock()
	g.lead([]*commitReq{r})
	return <-r.err
}

// lead commits group, then hands the writes queued meanwhile on.
func (g *groupCommit) lead(group []*commitReq) {
	g.commit(group)
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.busy = false
		g.mu.Unlock()
		return
	}
	n := min(len(g.pending), maxGroup)
	next := g.pending[:n:n]
	g.pending = append([]*commitReq(nil), g.pending[n:]...)
	g.mu.Unlock()
	next[0].lead <- next
}

// close refuses new writes and waits for those in progress.
func (g *groupCommit) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.inflight.Wait()
}

// commit runs the group's writes in one transaction and tells each its
// result.
func (g *groupCommit) commit(group []*commitReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err <- err // gone before its turn: nothing written
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	g.commits.Add(1)
	g.writes.Add(int64(len(live)))
	if len(live) == 1 && !live[0].tx {
		// Alone, and one statement: it commits itself, with no BEGIN
		// and COMMIT around it.
		live[0].err <- live[0].run(g.db)
		return
	}
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range live {
			r.err <- fmt.Errorf("storage: begin: %w", err)
		}
		return
	}
	stx := g.db.tx(tx)
	defer stx.prepareMisses(ctx)
	errs := make([]error, len(live))
	if len(live) == 1 {
		r := live[0]
		if errs[0] = r.run(stx); errs[0] != nil {
			tx.Rollback()
			r.err <- errs[0]
			return
		}
	} else {
		for i, r := range live {
			if _, err := stx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
				errs[i] = fmt.Errorf("storage: savepoint: %w", err)
				continue
			}
			if errs[i] = r.run(stx); errs[i] != nil {
				if _, err := stx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
					// The savepoint cannot be undone: nothing of the
					// group may be committed.
					tx.Rollback()
					for _, r := range live {
						r.err <- fmt.Errorf("storage: rollback to savepoint: %w", err)
					}
					return
				}
			}
			if _, err := stx.ExecContext(ctx, `RELEASE w`); err != nil && errs[i] == nil {
				errs[i] = fmt.Errorf("storage: release savepoint: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("storage: commit: %w", err)
			}
		}
	}
	for i, r := range live {
		r.err <- errs[i]
	}
}

// GroupCommits reports how many group commits the Store ran and how many
// writes they held (0, 0 without group commit).
func (s *Store) GroupCommits() (commits, writes int64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.commits.Load(), s.group.writes.Load()
}

// write runs fn, which changes the database. With a group commit (SQLite)
// it runs in the next group; otherwise in a transaction of its own when tx
// is set (fn's statements must agree), or straight on the pool. fn must
// set tx unless it writes with a single statement.
func (s *Store) write(ctx context.Context, op string, tx bool, fn func(context.Context, querier) error) error {
	if s.group != nil {
		return s.group.do(ctx, tx, fn)
	}
	if tx {
		return s.inTx(ctx, op, func(t *stmtTx) error { return fn(ctx, t) })
	}
	return fn(ctx, s.db)
}

// execOneOn runs on q a statement that must change exactly one row; when
// it changes none the result is storage.ErrNotFound.
func (s *Store) execOneOn(ctx context.Context, q querier, op, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return s.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}
