package users

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise/store"
)

// A password typed into the name field never reaches the log, neither when
// the login fails nor when the throttle refuses it; a plausible name does.
func TestFailedLoginLogsNoTypedSecret(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: filepath.Join(t.TempDir(), "vise.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var logs bytes.Buffer
	now := time.Now()
	s := New(Options{Store: st, Params: cheap, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})

	const secret = "Tr0ub4dor&3 horse"
	for range 7 { // past the 5 free attempts, so the throttle logs too
		if _, err := s.Login(ctx, secret, "", "10.0.0.9:4000"); err == nil {
			t.Fatal("login with a password for a name succeeded")
		}
	}
	s.Login(ctx, "mallory", "a wrong password", "10.0.0.8:4000")
	got := logs.String()
	for _, part := range []string{secret, strings.ToLower(secret), "tr0ub4dor", "horse"} {
		if strings.Contains(got, part) {
			t.Errorf("the log contains %q typed as a user name:\n%s", part, got)
		}
	}
	for _, want := range []string{"login failed", "too many failed attempts", "not a valid user name", `"user":"mallory"`} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q:\n%s", want, got)
		}
	}
}
