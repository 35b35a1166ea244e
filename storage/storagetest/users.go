package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func newUser(id, email string, created time.Time) *storage.User {
	return &storage.User{
		ID:           id,
		Email:        email,
		Name:         "User " + id,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + id,
		CreatedAt:    created,
		UpdatedAt:    created,
	}
}

func testUserRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// A time in another zone with sub-millisecond digits comes back as the
	// same instant, to the millisecond.
	zone := time.FixedZone("UTC+5", 5*60*60)
	u := &storage.User{
		ID:            "u1",
		Email:         "alice@example.com",
		Name:          "Alice Liddell",
		PasswordHash:  "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		EmailVerified: true,
		Disabled:      true,
		EmailOTP:      true,
		Admin:         true,
		CreatedAt:     epoch().In(zone).Add(456 * time.Microsecond),
		UpdatedAt:     epoch().Add(time.Hour),
	}
	check(t, s.CreateUser(ctx, u))
	got, err := s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "UserByID", got, u)
	got, err = s.UserByEmail(ctx, "alice@example.com")
	check(t, err)
	wantEqual(t, "UserByEmail", got, u)

	plain := newUser("u2", "bob@example.com", epoch())
	check(t, s.CreateUser(ctx, plain))
	got, err = s.UserByID(ctx, "u2")
	check(t, err)
	wantEqual(t, "UserByID", got, plain)
}

func testUserConflict(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	err := s.CreateUser(ctx, newUser("u1", "other@example.com", epoch()))
	wantErr(t, "CreateUser with a taken id", err, storage.ErrConflict)
	err = s.CreateUser(ctx, newUser("u2", "alice@example.com", epoch()))
	wantErr(t, "CreateUser with a taken email", err, storage.ErrConflict)
	users, err := s.ListUsers(ctx)
	check(t, err)
	if len(users) != 1 {
		t.Errorf("ListUsers after conflicts: %d users, want 1", len(users))
	}
}

func testUserNotFound(t *testing.T, s storage.Store) {
	ctx := t.Context()
	check(t, s.CreateUser(ctx, newUser("u1", "alice@example.com", epoch())))
	_, err := s.UserByID(ctx, "nobody")
	wantErr(t, "UserByID", err, storage.ErrNotFound)
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, "UserByEmail", err, storage.ErrNotFound)
	_, err = s.UserByEmail(ctx, "ALICE@example.com") // callers lower-case emails
	wantErr(t, "UserByEmail in upper case", err, storage.ErrNotFound)
	_, err = s.SetUserDisabled(ctx, "nobody", true, epoch())
	wantErr(t, "SetUserDisabled", err, storage.ErrNotFound)
	err = s.SetPasswordHash(ctx, "nobody", "x", epoch())
	wantErr(t, "SetPasswordHash", err, storage.ErrNotFound)
	err = s.SetEmailOTP(ctx, "nobody", true, epoch())
	wantErr(t, "SetEmailOTP", err, storage.ErrNotFound)
}

func testListUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	users, err := s.ListUsers(ctx)
	check(t, err)
	if len(users) != 0 {
		t.Fatalf("ListUsers of an empty store: %d users", len(users))
	}
	// Ordered by creation time, then id.
	want := []*storage.User{
		newUser("b", "b@example.com", epoch()),
		newUser("c", "c@example.com", epoch()),
		newUser("a", "a@example.com", epoch().Add(time.Millisecond)),
		newUser("d", "d@example.com", epoch().Add(time.Hour)),
	}
	for _, i := range []int{3, 1, 2, 0} {
		check(t, s.CreateUser(ctx, want[i]))
	}
	users, err = s.ListUsers(ctx)
	check(t, err)
	if len(users) != len(want) {
		t.Fatalf("ListUsers: %d users, want %d", len(users), len(want))
	}
	for i := range users {
		wantEqual(t, "ListUsers["+want[i].ID+"]", &users[i], want[i])
	}
}

func testUserUpdates(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	other := newUser("u2", "bob@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	check(t, s.CreateUser(ctx, other))

	_, err := s.SetUserDisabled(ctx, "u1", true, epoch().Add(time.Minute))
	check(t, err)
	u.Disabled, u.UpdatedAt = true, epoch().Add(time.Minute)
	got, err := s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "user after SetUserDisabled(true)", got, u)

	_, err = s.SetUserDisabled(ctx, "u1", false, epoch().Add(2*time.Minute))
	check(t, err)
	u.Disabled, u.UpdatedAt = false, epoch().Add(2*time.Minute)
	got, err = s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "user after SetUserDisabled(false)", got, u)

	check(t, s.SetPasswordHash(ctx, "u1", "$argon2id$new", epoch().Add(3*time.Minute)))
	u.PasswordHash, u.UpdatedAt = "$argon2id$new", epoch().Add(3*time.Minute)
	got, err = s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "user after SetPasswordHash", got, u)

	got, err = s.UserByID(ctx, "u2")
	check(t, err)
	wantEqual(t, "other user", got, other)
}

func testSetEmailOTP(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	other := newUser("u2", "bob@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	check(t, s.CreateUser(ctx, other))

	// wantUser checks u through every way of reading a user.
	wantUser := func(what string) {
		t.Helper()
		got, err := s.UserByID(ctx, u.ID)
		check(t, err)
		wantEqual(t, what+": UserByID", got, u)
		got, err = s.UserByEmail(ctx, u.Email)
		check(t, err)
		wantEqual(t, what+": UserByEmail", got, u)
		users, err := s.ListUsers(ctx)
		check(t, err)
		if len(users) != 2 {
			t.Fatalf("%s: ListUsers: %d users, want 2", what, len(users))
		}
		wantEqual(t, what+": ListUsers[0]", &users[0], u)
		wantEqual(t, what+": ListUsers[1]", &users[1], other)
	}
	wantUser("new user")

	check(t, s.SetEmailOTP(ctx, "u1", true, epoch().Add(time.Minute)))
	u.EmailOTP, u.UpdatedAt = true, epoch().Add(time.Minute)
	wantUser("after SetEmailOTP(true)")

	check(t, s.SetEmailOTP(ctx, "u1", true, epoch().Add(2*time.Minute)))
	u.UpdatedAt = epoch().Add(2 * time.Minute)
	wantUser("after SetEmailOTP(true) again")

	check(t, s.SetEmailOTP(ctx, "u1", false, epoch().Add(3*time.Minute)))
	u.EmailOTP, u.UpdatedAt = false, epoch().Add(3*time.Minute)
	wantUser("after SetEmailOTP(false)")
}

func testSetEmailVerified(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	other := newUser("u2", "bob@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	check(t, s.CreateUser(ctx, other))

	check(t, s.SetEmailVerified(ctx, "u1", epoch().Add(time.Minute)))
	u.EmailVerified, u.UpdatedAt = true, epoch().Add(time.Minute)
	got, err := s.UserByEmail(ctx, "alice@example.com")
	check(t, err)
	wantEqual(t, "user after SetEmailVerified", got, u)

	// Again keeps it verified.
	check(t, s.SetEmailVerified(ctx, "u1", epoch().Add(2*time.Minute)))
	u.UpdatedAt = epoch().Add(2 * time.Minute)
	got, err = s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "user after SetEmailVerified again", got, u)

	got, err = s.UserByID(ctx, "u2")
	check(t, err)
	wantEqual(t, "other user", got, other)
	wantErr(t, "SetEmailVerified(nobody)", s.SetEmailVerified(ctx, "nobody", epoch()), storage.ErrNotFound)
}

func testSetEmail(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	other := newUser("u2", "bob@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	check(t, s.CreateUser(ctx, other))

	check(t, s.SetEmail(ctx, "u1", "alice@example.org", epoch().Add(time.Minute)))
	u.Email, u.EmailVerified, u.UpdatedAt = "alice@example.org", true, epoch().Add(time.Minute)
	got, err := s.UserByEmail(ctx, "alice@example.org")
	check(t, err)
	wantEqual(t, "user after SetEmail", got, u)
	_, err = s.UserByEmail(ctx, "alice@example.com")
	wantErr(t, "UserByEmail of the old address", err, storage.ErrNotFound)

	// Another user's address is taken; nothing changes.
	err = s.SetEmail(ctx, "u1", "bob@example.com", epoch().Add(2*time.Minute))
	wantErr(t, "SetEmail to a taken address", err, storage.ErrConflict)
	got, err = s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "user after a refused SetEmail", got, u)
	got, err = s.UserByEmail(ctx, "bob@example.com")
	check(t, err)
	wantEqual(t, "owner of the taken address", got, other)

	// The user's own address is not taken.
	check(t, s.SetEmail(ctx, "u1", "alice@example.org", epoch().Add(3*time.Minute)))
	u.UpdatedAt = epoch().Add(3 * time.Minute)
	got, err = s.UserByID(ctx, "u1")
	check(t, err)
	wantEqual(t, "user after SetEmail to its own address", got, u)

	// The old address is free again.
	check(t, s.SetEmail(ctx, "u2", "alice@example.com", epoch().Add(4*time.Minute)))
	other.Email, other.EmailVerified, other.UpdatedAt = "alice@example.com", true, epoch().Add(4*time.Minute)
	got, err = s.UserByEmail(ctx, "alice@example.com")
	check(t, err)
	wantEqual(t, "user that took the old address", got, other)

	wantErr(t, "SetEmail(nobody)", s.SetEmail(ctx, "nobody", "x@example.com", epoch()), storage.ErrNotFound)
}

func testSetName(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	other := newUser("u2", "bob@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	check(t, s.CreateUser(ctx, other))

	for i, name := range []string{"Алиса Лидделл", "", "Alice"} {
		now := epoch().Add(time.Duration(i+1) * time.Minute)
		check(t, s.SetName(ctx, "u1", name, now))
		u.Name, u.UpdatedAt = name, now
		got, err := s.UserByID(ctx, "u1")
		check(t, err)
		wantEqual(t, "user after SetName("+name+")", got, u)
	}
	got, err := s.UserByID(ctx, "u2")
	check(t, err)
	wantEqual(t, "other user", got, other)
	wantErr(t, "SetName(nobody)", s.SetName(ctx, "nobody", "x", epoch()), storage.ErrNotFound)
}

func testSetUserAdmin(t *testing.T, s storage.Store) {
	ctx := t.Context()
	u := newUser("u1", "alice@example.com", epoch())
	check(t, s.CreateUser(ctx, u))
	check(t, s.CreateUser(ctx, newUser("u2", "bob@example.com", epoch())))
	later := epoch().Add(time.Hour)
	check(t, s.SetUserAdmin(ctx, "u1", true, later))
	got, err := s.UserByID(ctx, "u1")
	check(t, err)
	want := *u
	want.Admin, want.UpdatedAt = true, later
	wantEqual(t, "UserByID after SetUserAdmin(true)", got, &want)
	other, err := s.UserByID(ctx, "u2")
	check(t, err)
	if other.Admin {
		t.Errorf("SetUserAdmin(u1) made u2 an admin too")
	}
	check(t, s.SetUserAdmin(ctx, "u1", false, later.Add(time.Minute)))
	got, err = s.UserByEmail(ctx, "alice@example.com")
	check(t, err)
	if got.Admin {
		t.Errorf("SetUserAdmin(false): still an admin")
	}
	wantErr(t, "SetUserAdmin of an unknown user", s.SetUserAdmin(ctx, "nobody", true, later), storage.ErrNotFound)
}

func testSearchUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, u := range []*storage.User{
		newUser("1", "alice@example.com", epoch()),
		newUser("2", "bob@example.org", epoch()),
		newUser("3", "al_ice@example.com", epoch()),
		newUser("4", "malice%x@example.com", epoch()),
	} {
		check(t, s.CreateUser(ctx, u))
	}
	for _, tc := range []struct {
		q     string
		limit int
		want  []string
	}{
		{"alice", 10, []string{"alice@example.com", "malice%x@example.com"}},
		{"ALICE", 10, []string{"alice@example.com", "malice%x@example.com"}},
		{"example.com", 10, []string{"al_ice@example.com", "alice@example.com", "malice%x@example.com"}},
		{"example.com", 2, []string{"al_ice@example.com", "alice@example.com"}},
		{"_", 10, []string{"al_ice@example.com"}},   // no wildcard
		{"%", 10, []string{"malice%x@example.com"}}, // no wildcard
		{"nobody", 10, nil},
	} {
		users, err := s.SearchUsers(ctx, tc.q, tc.limit)
		check(t, err)
		var got []string
		for _, u := range users {
			got = append(got, u.Email)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SearchUsers(%q, %d) = %v, want %v", tc.q, tc.limit, got, tc.want)
		}
	}
}
