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
// that fails is rolled back alone. Every writer returns only once its
// changes are committed.
//
// A writer that finds no commit running commits its write itself, on its
// own goroutine: alone, a write costs what it did without group commit.
// The writes that queue behind it are committed, group after group, by the
// store's committer goroutine until none is left, so that under load one
// commit follows the other with no hand-over between goroutines.
type groupCommit struct {
	commits, writes atomic.Int64 // for GroupCommits

	db   *stmtDB
	kick chan struct{} // wakes the committer: writes are pending
	done chan struct{} // closed when the committer has stopped

	mu       sync.Mutex
	busy     bool         // a commit is running, or the committer has work
	pending  []*commitReq // writes queued behind it
	closed   bool
	inflight sync.WaitGroup
}

type commitReq struct {
	ctx context.Context
	tx  bool // fn's statements must agree: a group of one still needs a transaction
	fn  func(context.Context, querier) error
	err chan error // its result, once committed
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
	g := &groupCommit{db: db, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go g.committer()
	return g
}

// do runs fn in a commit and returns its error, or the commit's. fn runs
// on a context that keeps ctx's values but not its cancellation:
// interrupting one statement would roll the whole group back.
func (g *groupCommit) do(ctx context.Context, tx bool, fn func(context.Context, querier) error) error {
	r := &commitReq{ctx: ctx, tx: tx, fn: fn, err: make(chan error, 1)}
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
		return <-r.err
	}
	g.busy = true
	g.mu.Unlock()
	g.commit([]*commitReq{r})
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.busy = false
	} else {
		g.kick <- struct{}{} // never blocks: only the holder of busy sends, once
	}
	g.mu.Unlock()
	return <-r.err
}

// committer commits the pending writes, group after group, whenever a
// writer that committed alone leaves some behind; then busy is released.
func (g *groupCommit) committer() {
	defer close(g.done)
	for range g.kick {
		for {
			g.mu.Lock()
			n := min(len(g.pending), maxGroup)
			if n == 0 {
				g.busy = false
				g.mu.Unlock()
				break
			}
			group := g.pending[:n:n]
			g.pending = append([]*commitReq(nil), g.pending[n:]...)
			g.mu.Unlock()
			g.commit(group)
		}
	}
}

// close refuses new writes, waits for those in progress and stops the
// committer.
func (g *groupCommit) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.inflight.Wait()
	close(g.kick)
	<-g.done
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

// execCount runs a statement on q and returns how many rows it changed.
func (s *Store) execCount(ctx context.Context, q querier, op, query string, args ...any) (int64, error) {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, s.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("storage: %s: %w", op, err)
	}
	return n, nil
}

// execOneOn runs on q a statement that must change exactly one row; when
// it changes none the result is storage.ErrNotFound.
func (s *Store) execOneOn(ctx context.Context, q querier, op, query string, args ...any) error {
	n, err := s.execCount(ctx, q, op, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}
