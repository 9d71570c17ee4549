package users

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// cheap keeps unit tests fast; the real parameters are exercised by the
// server, dashboard and CLI tests.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashRoundTrip(t *testing.T) {
	for _, p := range []Params{cheap, DefaultParams} {
		h := HashPassword("correct horse battery", p)
		want := fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", p.Memory, p.Time, p.Threads)
		if !strings.HasPrefix(h, want) {
			t.Errorf("hash %q does not start with %q", h, want)
		}
		for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
			ok, err := VerifyPassword(h, pw)
			if err != nil || ok != want {
				t.Errorf("verify %q against %v hash: %v, %v; want %v", pw, p, ok, err, want)
			}
		}
		if h2 := HashPassword("correct horse battery", p); h2 == h {
			t.Error("two hashes of one password are equal: the salt is not random")
		}
	}
}

func TestParseHashRefuses(t *testing.T) {
	good := HashPassword("correct horse battery", cheap)
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuv",
		"argon2i":      strings.Replace(good, "argon2id", "argon2i", 1),
		"old version":  strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":  strings.Replace(good, "m=64,", "m=99999999,", 1),
		"zero time":    strings.Replace(good, "t=1,", "t=0,", 1),
		"many threads": strings.Replace(good, "p=1$", "p=255$", 1),
		"padded salt":  strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4] + "==", parts[5]}, "$"),
		"short key":    strings.Join([]string{"", parts[1], parts[2], parts[3], parts[4], "AAAA"}, "$"),
		"extra field":  good + "$x",
		"spaces":       strings.Replace(good, "m=64,", "m= 64,", 1),
	} {
		if _, err := VerifyPassword(h, "correct horse battery"); err == nil {
			t.Errorf("%s: %q accepted", name, h)
		}
	}
}

func FuzzParseHash(f *testing.F) {
	f.Add(HashPassword("correct horse battery", cheap))
	f.Add("$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHash(s)
		if err != nil {
			return
		}
		if h.params.Memory > maxMemory || h.params.Time > maxTime || h.params.Threads > maxThreads || h.params.Threads == 0 {
			t.Fatalf("parameters out of bounds accepted: %+v", h.params)
		}
	})
}

func TestCheckPassword(t *testing.T) {
	for pw, want := range map[string]string{
		"short":                     "password too short (5 characters): use at least 10",
		"ünïcödé!!":                 "password too short (9 characters)",
		"ünïcödé!!!":                "",
		"long enough":               "",
		strings.Repeat("x", 1025):   "password too long",
		"invalid \xff utf-8 bytes!": "not valid UTF-8",
	} {
		err := CheckPassword(pw)
		if want == "" {
			if err != nil {
				t.Errorf("%q refused: %v", pw, err)
			}
			continue
		}
		if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want invalid with %q", pw, err, want)
		}
	}
}

func newService(t *testing.T, now func() time.Time) (*Service, *prometheus.Registry) {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{URL: filepath.Join(t.TempDir(), "vise.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	return New(Options{Store: st, Params: cheap, Metrics: reg, Now: now}), reg
}

func TestCreateAndLogin(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil)
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleViewer, Password: "short"}, "admin"); vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short password: %v", err)
	}
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: "root", Password: "long enough pw"}, "admin"); vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "use viewer") {
		t.Errorf("bad role: %v", err)
	}
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "Alice Smith", Role: RoleViewer, Password: "long enough pw"}, "admin"); vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "invalid user name") {
		t.Errorf("bad name: %v", err)
	}
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleViewer, Password: "long enough pw"}, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleAdmin, Password: "another password"}, "admin"); vise.ErrorCode(err) != vise.CodeConflict {
		t.Errorf("duplicate: %v", err)
	}
	u, err := s.Login(ctx, " Alice ", "long enough pw", "10.0.0.1:5000")
	if err != nil || u.Name != "alice" || u.Role != RoleViewer {
		t.Fatalf("login: %+v, %v", u, err)
	}
	_, wrong := s.Login(ctx, "alice", "long enough PW", "10.0.0.1:5000")
	_, unknown := s.Login(ctx, "mallory", "long enough pw", "10.0.0.1:5000")
	for _, err := range []error{wrong, unknown} {
		if vise.ErrorCode(err) != vise.CodeUnauthorized || err.Error() != "wrong user name or password" {
			t.Errorf("failed login: %v; want the generic unauthorized message", err)
		}
	}
	if err := s.SetPassword(ctx, "alice", "a new password", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "alice", "long enough pw", ""); err == nil {
		t.Error("the old password still works after a change")
	}
	if _, err := s.Login(ctx, "alice", "a new password", ""); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", "a new password", "admin"); vise.ErrorCode(err) != vise.CodeNotFound {
		t.Errorf("password of an unknown user: %v", err)
	}
	if err := s.Remove(ctx, "alice", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "alice", "a new password", ""); vise.ErrorCode(err) != vise.CodeUnauthorized {
		t.Errorf("login of a removed user: %v", err)
	}
}

func TestLoginThrottle(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	s, reg := newService(t, func() time.Time { return clock })
	s.Create(ctx, vise.CreateUserRequest{Name: "alice", Role: RoleAdmin, Password: "long enough pw"}, "admin")
	for i := range 5 {
		if _, err := s.Login(ctx, "alice", fmt.Sprint("guess ", i), "10.0.0.9:1"); errors.Is(err, ErrTooManyAttempts) {
			t.Fatalf("throttled after %d failures; 5 are free", i)
		}
	}
	if got := counter(t, reg, "bad_credentials"); got != 5 {
		t.Errorf("bad_credentials counter = %v, want 5", got)
	}
	// The sixth try, even with the right password, must wait.
	_, err := s.Login(ctx, "alice", "long enough pw", "10.0.0.10:1")
	if !errors.Is(err, ErrTooManyAttempts) || !strings.Contains(err.Error(), "wait 1 s") {
		t.Fatalf("sixth attempt: %v; want throttled for 1 s", err)
	}
	if got := counter(t, reg, "throttled"); got != 1 {
		t.Errorf("throttled counter = %v, want 1", got)
	}
	// Another user from another address is not slowed.
	if _, err := s.Login(ctx, "bob", "whatever pw", "10.0.0.11:1"); errors.Is(err, ErrTooManyAttempts) {
		t.Errorf("an unrelated user was throttled: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := s.Login(ctx, "alice", "guess 6", "10.0.0.9:1"); errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("after waiting: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := s.Login(ctx, "alice", "long enough pw", "10.0.0.9:1"); !errors.Is(err, ErrTooManyAttempts) || !strings.Contains(err.Error(), "wait 1 s") {
		t.Errorf("the delay did not double: %v", err)
	}
	clock = clock.Add(time.Second)
	if _, err := s.Login(ctx, "alice", "long enough pw", "10.0.0.9:1"); err != nil {
		t.Fatalf("right password after the delay: %v", err)
	}
	if _, err := s.Login(ctx, "alice", "guess 7", "10.0.0.9:1"); errors.Is(err, ErrTooManyAttempts) {
		t.Error("a successful login did not reset the user's count")
	}
}

func TestThrottleByAddress(t *testing.T) {
	clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	th := newThrottle(3, time.Second, time.Minute, func() time.Time { return clock })
	for range 3 {
		th.fail("addr:10.0.0.9")
	}
	if w := th.wait("addr:10.0.0.9"); w != time.Second {
		t.Errorf("wait after 3 = %v, want 1s", w)
	}
	for range 30 {
		th.fail("addr:10.0.0.9")
	}
	if w := th.wait("addr:10.0.0.9"); w != time.Minute {
		t.Errorf("wait after 33 = %v, want the 1m cap", w)
	}
	clock = clock.Add(15 * time.Minute)
	if w := th.wait("addr:10.0.0.9"); w != 0 {
		t.Errorf("wait after 15 idle minutes = %v, want 0", w)
	}
}

// counter reads vise_login_failures_total{reason} from the registry, as
// /metrics would show it.
func counter(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vise_login_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
