package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/vise-edge/vise"
)

// ownerOnly makes the SQLite database file owner-only (0600) before SQLite
// opens it, since it holds password and token hashes: a new file is created
// 0600, and SQLite gives its -wal and -shm files the database file's mode.
// Existing files others may read are tightened, and the log says so; if
// that fails the store still opens, with a warning.
func ownerOnly(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return vise.Errorf(vise.CodeUnavailable, "cannot open the database file %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return vise.Errorf(vise.CodeUnavailable, "database file %s: %w", p, err)
		}
		perm := fi.Mode().Perm()
		if perm&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, perm&^0o077); err != nil {
			log.Warn("a database file is open to other users and cannot be tightened; chmod 600 it", "file", p, "mode", fmt.Sprintf("%#o", perm), "err", err)
			continue
		}
		log.Warn("tightened a database file to owner-only", "file", p, "was", fmt.Sprintf("%#o", perm))
	}
	return nil
}
