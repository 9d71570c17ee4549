package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vise-edge/vise/server"
)

// lockedBuffer is a log sink the server's goroutines may write at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A password typed into the dashboard's user-name field is not in the
// server's log after the login fails.
func TestDashboardLoginDoesNotLogTypedSecret(t *testing.T) {
	var logs lockedBuffer
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
