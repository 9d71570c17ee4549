package users

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// An address that has failed 20 times must wait, whatever name it tries
// next and even with that user's right password; other addresses need not.
// A success from the address does not clear its count: one known password
// must not unlock guessing the others'.
func TestLoginThrottleByAddressThroughLogin(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	s, reg := newService(t, func() time.Time { return clock })
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleAdmin, Password: "long enough pw"}, "admin"); err != nil {
		t.Fatal(err)
	}
	const guesser = "192.0.2.7"
	// 20 names, one guess each: no name reaches its own 5 free tries.
	for i := range 20 {
		if _, err := s.Login(ctx, fmt.Sprintf("user%d", i), "some guess pw", fmt.Sprintf("%s:%d", guesser, 4000+i)); errors.Is(err, ErrTooManyAttempts) {
			t.Fatalf("throttled after %d failures from one address; 20 are free", i)
		}
	}
	_, err := s.Login(ctx, "alice", "long enough pw", guesser+":5000")
	if !errors.Is(err, ErrTooManyAttempts) || vise.ErrorCode(err) != vise.CodeUnauthorized || !strings.Contains(err.Error(), "wait 1 s") {
		t.Fatalf("21st attempt from %s, right password: %v; want throttled for 1 s", guesser, err)
	}
	if u, err := s.Login(ctx, "alice", "long enough pw", "198.51.100.1:5000"); err != nil || u.Name != "alice" {
		t.Fatalf("alice from another address: %v, %v", u, err)
	}
	clock = clock.Add(time.Second)
	if _, err := s.Login(ctx, "alice", "long enough pw", guesser+":5001"); err != nil {
		t.Fatalf("right password from %s after the delay: %v", guesser, err)
	}
	// The address still holds its 20 failures: the next failure doubles
	// its delay, although it just logged alice in.
	if _, err := s.Login(ctx, "user99", "some guess pw", guesser+":5002"); errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("a guess 1 s after the last failure: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := s.Login(ctx, "alice", "long enough pw", guesser+":5003"); !errors.Is(err, ErrTooManyAttempts) || !strings.Contains(err.Error(), "wait 1 s") {
		t.Errorf("after a success and one more failure from %s: %v; want throttled (the delay doubled to 2 s)", guesser, err)
	}
	if got, want := counter(t, reg, "bad_credentials"), 21.0; got != want {
		t.Errorf("bad_credentials = %v, want %v", got, want)
	}
	if got, want := counter(t, reg, "throttled"), 2.0; got != want {
		t.Errorf("throttled = %v, want %v", got, want)
	}
	// A quarter of an hour later the address starts over.
	clock = clock.Add(15 * time.Minute)
	if _, err := s.Login(ctx, "alice", "long enough pw", guesser+":5004"); err != nil {
		t.Errorf("after 15 idle minutes: %v", err)
	}
}

// A user name is throttled however it is spelt: " ALICE " is alice.
func TestLoginThrottleNameSpelling(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	s, _ := newService(t, func() time.Time { return clock })
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleAdmin, Password: "long enough pw"}, "admin"); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"alice", "Alice", "ALICE", " alice", "aLiCe "} {
		if _, err := s.Login(ctx, name, "guess pw", fmt.Sprintf("10.1.0.%d:1", i)); errors.Is(err, ErrTooManyAttempts) {
			t.Fatalf("throttled after %d failures", i)
		}
	}
	if _, err := s.Login(ctx, "alice", "long enough pw", "10.1.0.99:1"); !errors.Is(err, ErrTooManyAttempts) {
		t.Errorf("after 5 failures under other spellings: %v; want throttled", err)
	}
}

// Guesses sent all at once count as they complete: of 20 concurrent wrong
// passwords for one user, only the 5 free ones are checked against the hash
// (one hash at a time here, so exactly 5), the rest are throttled.
func TestLoginThrottleConcurrentGuesses(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, store.Options{URL: filepath.Join(t.TempDir(), "vise.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	s := New(Options{Store: st, Params: cheap, Metrics: reg, Now: func() time.Time { return clock }, Hashing: 1})
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleAdmin, Password: "long enough pw"}, "admin"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Login(ctx, "alice", fmt.Sprint("guess ", i), fmt.Sprintf("10.2.%d.1:1", i))
		})
	}
	wg.Wait()
	bad, throttled := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, ErrTooManyAttempts):
			throttled++
		case vise.ErrorCode(err) == vise.CodeUnauthorized:
			bad++
		default:
			t.Errorf("login: %v", err)
		}
	}
	if bad != 5 || throttled != n-5 {
		t.Errorf("%d guesses checked, %d throttled; want 5 and %d", bad, throttled, n-5)
	}
}
