package postgres

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/internal/sqlstore"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
)

// A relayCut says where a commitRelay cuts the connection that sends a
// COMMIT.
type relayCut int

const (
	cutNone        relayCut = iota
	cutBefore               // the COMMIT never reaches the server
	cutAfter                // the server gets the COMMIT; its answer is lost
	cutAfterRefuse          // cutAfter, and the server stays unreachable
)

// commitRelay forwards loopback connections to a PostgreSQL server, as a
// network between the replica and its database would, and cuts the
// connection that sends the next COMMIT where it is told to.
type commitRelay struct {
	t  *testing.T
	ln net.Listener

	mu      sync.Mutex
	target  string
	cut     relayCut
	refuse  bool
	conns   map[net.Conn]bool
	muted   map[net.Conn]bool // client sides whose answers are lost
	commits int               // COMMITs cut
}

func newCommitRelay(t *testing.T, target string) *commitRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &commitRelay{t: t, ln: ln, target: target, conns: map[net.Conn]bool{}, muted: map[net.Conn]bool{}}
	t.Cleanup(r.close)
	go r.accept()
	return r
}

func (r *commitRelay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		refuse, target := r.refuse, r.target
		r.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		r.track(c, s)
		go r.toClient(c, s)
		go r.toServer(c, s)
	}
}

func (r *commitRelay) track(conns ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range conns {
		r.conns[c] = true
	}
}

// toClient forwards the server's answers until either side closes. Once
// the client's side is muted (its COMMIT was sent with the answer to be
// lost), the next answer, the COMMIT's, is dropped and both sides are
// closed: the server has answered, and the client never hears it, however
// the goroutines are scheduled.
func (r *commitRelay) toClient(c, s net.Conn) {
	defer c.Close()
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			r.mu.Lock()
			muted := r.muted[c]
			r.mu.Unlock()
			if muted {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// toServer forwards the client's messages, and cuts the connection at the
// first COMMIT once armed. pgx sends COMMIT as the query "commit".
func (r *commitRelay) toServer(c, s net.Conn) {
	defer s.Close()
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		chunk := buf[:n]
		r.mu.Lock()
		cut := r.cut
		if cut != cutNone && bytes.Contains(chunk, []byte("commit\x00")) {
			r.cut = cutNone
			r.commits++
		} else {
			cut = cutNone
		}
		r.mu.Unlock()
		if cut == cutBefore {
			return
		}
		if cut == cutAfter || cut == cutAfterRefuse {
			r.mu.Lock()
			r.muted[c] = true
			r.mu.Unlock()
		}
		if _, err := s.Write(chunk); err != nil {
			return
		}
		if cut == cutAfter || cut == cutAfterRefuse {
			// The answer is lost (toClient drops it): the client's
			// side goes now (and with cutAfterRefuse every other
			// first, so that no pooled connection answers the
			// outcome), the server's once it has answered.
			if cut == cutAfterRefuse {
				r.unreachable()
			}
			c.Close()
			return
		}
	}
}

// unreachable refuses new connections and cuts every open one but the
// server's side of the connection whose COMMIT was cut, which toClient
// closes once the server has answered.
func (r *commitRelay) unreachable() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = true
	for c := range r.conns {
		if c.LocalAddr().String() == r.ln.Addr().String() {
			c.Close()
		}
	}
}

// arm makes the relay cut the connection of the next COMMIT.
func (r *commitRelay) arm(cut relayCut) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut, r.refuse = cut, false
}

func (r *commitRelay) reachable() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refuse = false
}

func (r *commitRelay) cutCommits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commits
}

func (r *commitRelay) close() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.Close()
	}
}

// relayDSN returns dsn with its host and port replaced by addr's.
func relayDSN(t *testing.T, dsn, addr string) (string, string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	host, port, _ := net.SplitHostPort(addr)
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + fmt.Sprintf(" host=%s port=%s", host, port), target
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String(), target
}

// TestLostCommitResolved cuts the connection of a claim's COMMIT, as a
// failover does, and checks that the claim's result is the transaction's
// real outcome, which PostgreSQL keeps: a claim whose COMMIT reached the
// server succeeds (and a second claim conflicts), one whose COMMIT never
// did fails and can be retried, and one whose outcome cannot be asked (the
// server unreachable) fails, retryable, as it did before.
func TestLostCommitResolved(t *testing.T) {
	dsn := pgtest.DSN(t)
	r := newCommitRelay(t, "")
	viaRelay, target := relayDSN(t, dsn, r.ln.Addr().String())
	r.mu.Lock()
	r.target = target // the relay listens already: set under its lock
	r.mu.Unlock()
	s, err := Open(t.Context(), viaRelay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(s.CreateClient(ctx, &storage.Client{ID: "c1", Name: "Client", RedirectURIs: []string{"https://c1.example.com/cb"},
		SigningAlgorithm: "RS256", AccessTokenFormat: "opaque", CreatedAt: now, UpdatedAt: now}))
	check(s.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", Name: "U", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}))
	binding := sha256.Sum256([]byte("flow cookie"))
	doneRequest := func(id string) {
		t.Helper()
		check(s.CreateAuthRequest(ctx, &storage.AuthRequest{ID: id, ClientID: "c1", RedirectURI: "https://c1.example.com/cb",
			Scopes: []string{"openid"}, ResponseType: "code", BindingHash: binding[:], CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
		check(s.CompleteAuthRequest(ctx, id, "u1", now, []string{"pwd"}, "", now))
	}
	claimed := func(id string) bool {
		t.Helper()
		ar, err := s.AuthRequestByID(ctx, id)
		check(err)
		return !bytes.Equal(ar.BindingHash, binding[:])
	}

	t.Run("committed", func(t *testing.T) {
		doneRequest("ar-committed")
		r.arm(cutAfter)
		if err := s.ClaimAuthRequest(ctx, "ar-committed", binding[:]); err != nil {
			t.Fatalf("a claim whose COMMIT reached the server, its answer lost: %v, want nil (it committed)", err)
		}
		if r.cutCommits() != 1 {
			t.Fatalf("the relay cut %d COMMITs, want 1", r.cutCommits())
		}
		if !claimed("ar-committed") {
			t.Fatal("the claim reported success but the request is not claimed")
		}
		if err := s.ClaimAuthRequest(ctx, "ar-committed", binding[:]); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("claim again = %v, want ErrConflict", err)
		}
	})
	t.Run("rotation", func(t *testing.T) {
		// A refresh token's rotation, one statement, runs in a
		// transaction whose lost COMMIT is resolved: a retry would be
		// taken for a replay.
		token := func(n string) *storage.RefreshToken {
			h := sha256.Sum256([]byte(n))
			return &storage.RefreshToken{ID: n, Hash: h[:], FamilyID: "family", ClientID: "c1", UserID: "u1",
				Scopes: []string{"openid"}, AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		}
		old, next := token("rt0"), token("rt1")
		check(s.CreateRefreshToken(ctx, old))
		cut := r.cutCommits()
		r.arm(cutAfter)
		if err := s.RotateRefreshToken(ctx, old.Hash, next, nil, now); err != nil {
			t.Fatalf("a rotation whose COMMIT reached the server, its answer lost: %v, want nil (it committed)", err)
		}
		if r.cutCommits() != cut+1 {
			r.arm(cutNone)
			t.Fatal("the rotation sent no COMMIT to cut: a lost answer could not be resolved")
		}
		if got, err := s.RefreshTokenByHash(ctx, next.Hash); err != nil || got.FamilyID != "family" {
			t.Fatalf("the rotated token: %+v, %v", got, err)
		}
	})
	t.Run("rolled back", func(t *testing.T) {
		doneRequest("ar-aborted")
		r.arm(cutBefore)
		err := s.ClaimAuthRequest(ctx, "ar-aborted", binding[:])
		if err == nil || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a claim whose COMMIT never reached the server = %v, want a (retryable) failure", err)
		}
		if !strings.Contains(err.Error(), "rolled back") {
			t.Errorf("the error does not say the claim was rolled back: %v", err)
		}
		if claimed("ar-aborted") {
			t.Fatal("the failed claim is in the database")
		}
		if err := s.ClaimAuthRequest(ctx, "ar-aborted", binding[:]); err != nil {
			t.Fatalf("the retry of a claim that was rolled back: %v", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		doneRequest("ar-unknown")
		r.arm(cutAfterRefuse)
		start := time.Now()
		err := s.ClaimAuthRequest(ctx, "ar-unknown", binding[:])
		if err == nil || errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a claim whose outcome cannot be asked = %v, want a (retryable) failure", err)
		}
		if !strings.Contains(err.Error(), "unknown") {
			t.Errorf("the error does not say the outcome is unknown: %v", err)
		}
		t.Logf("unknown after %v: %v", time.Since(start).Round(time.Millisecond), err)
		r.reachable()
	})
}

// BenchmarkCommitCheck measures what reading the transaction's id costs a
// write transaction (GrantConsent: BEGIN, an INSERT, a SELECT … FOR NO
// KEY UPDATE, an UPDATE and COMMIT) on the normal path, on one pool:
// "unchecked" without a CommitCheck (as before), "query" with the id read
// by a statement of its own before COMMIT (the fallback), "begin" with
// the id read in BEGIN's round trip (openDB, what the Store does). Run the
// three in alternating rounds, e.g. -bench 'CommitCheck/^begin$' and the
// others in turn.
func BenchmarkCommitCheck(b *testing.B) {
	ctx := b.Context()
	pool, err := connect(ctx, pgtest.DSN(b), Options{MaxConns: 8}) // room for the idle connections of three *sql.DB
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	if err := migratePool(ctx, pool); err != nil {
		b.Fatal(err)
	}
	unchecked := dialect
	unchecked.CommitCheck = nil
	stores := map[string]*sqlstore.Store{
		"unchecked": sqlstore.New(stdlib.OpenDBFromPool(pool), unchecked),
		"query":     sqlstore.New(stdlib.OpenDBFromPool(pool), dialect),
		"begin":     sqlstore.New(openDB(pool), dialect),
	}
	for _, s := range stores {
		defer s.Close() // before pool.Close, which waits for their connections
	}
	now := time.Now()
	s := stores["begin"]
	if err := s.CreateClient(ctx, &storage.Client{ID: "c1", Name: "C", SigningAlgorithm: "RS256", AccessTokenFormat: "opaque",
		CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateUser(ctx, &storage.User{ID: "u1", Email: "u1@example.com", PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"unchecked", "query", "begin"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name]
			for b.Loop() {
				if err := s.GrantConsent(ctx, "u1", "c1", []string{"openid"}, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// A refresh token's rotation: one statement, straight on the pool
	// without a CommitCheck ("rotate-unchecked", as before), in a
	// transaction whose BEGIN reads its id with one ("rotate-begin").
	for _, name := range []string{"unchecked", "begin"} {
		b.Run("rotate-"+name, func(b *testing.B) {
			s := stores[name]
			hash := func(i int) []byte { h := sha256.Sum256([]byte(name + strconv.Itoa(i))); return h[:] }
			token := func(i int) *storage.RefreshToken {
				return &storage.RefreshToken{ID: name + strconv.Itoa(i), Hash: hash(i), FamilyID: "f-" + name, ClientID: "c1", UserID: "u1",
					Scopes: []string{"openid"}, AuthTime: now, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
			}
			if err := s.CreateRefreshToken(ctx, token(0)); err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if err := s.RotateRefreshToken(ctx, hash(i), token(i+1), nil, now); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
