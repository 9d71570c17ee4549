package server_test

import (
	"bytes"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise/server"
)

// The data directory and the SQLite files (password and token hashes) are
// the owner's only, whether new or left looser by an earlier install.
func TestDataDirOwnerOnly(t *testing.T) {
	wantModes := func(t *testing.T, dir string) {
		t.Helper()
		for name, want := range map[string]fs.FileMode{"": 0o700, "vise.db": 0o600, "vise.db-wal": 0o600, "vise.db-shm": 0o600} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s/%s has mode %#o, want %#o", dir, name, got, want)
			}
		}
	}
	open := func(t *testing.T, dir string) string {
		t.Helper()
		var logs bytes.Buffer
		s, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0", DataDir: dir,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return logs.String()
	}
	t.Run("new", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		open(t, dir)
		wantModes(t, dir)
	})
	t.Run("existing and open to others", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
			t.Fatal(err)
		}
		for _, name := range []string{"vise.db", "vise.db-wal"} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chmod(filepath.Join(dir, name), 0o644)
		}
		logs := open(t, dir)
		wantModes(t, dir)
		for _, want := range []string{"tightened the data directory", "tightened a database file"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the log does not say %q:\n%s", want, logs)
			}
		}
	})
}
