package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/vise-edge/vise/internal/logbuf"
	"github.com/vise-edge/vise/server"
)

// A password typed into the dashboard's user-name field is not in the
// server's log after the login fails.
func TestDashboardLoginDoesNotLogTypedSecret(t *testing.T) {
	var logs logbuf.Buffer
	s, err := server.New(context.Background(), server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0",
		DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const secret = "My Secret Passw0rd!"
	p := newPerson(t, s.URL())
	if status, _ := p.do(http.MethodPost, "/login", url.Values{"user": {secret}, "password": {""}}); status != http.StatusUnauthorized {
		t.Fatalf("login with a password as the name: %d, want 401", status)
	}
	got := logs.String()
	if !strings.Contains(got, "login failed") {
		t.Fatalf("the failed login is not logged:\n%s", got)
	}
	for _, part := range []string{secret, strings.ToLower(secret), "passw0rd"} {
		if strings.Contains(strings.ToLower(got), strings.ToLower(part)) {
			t.Errorf("the log contains %q typed as a user name:\n%s", part, got)
		}
	}
}
