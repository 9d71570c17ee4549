package server

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/vise-edge/vise"
)

// prepareDataDir creates the data directory for the owner only (0700): it
// holds the database with password and token hashes, signing keys and the
// admin token. An existing directory others may enter is tightened to 0700,
// and the log says so; if that fails the server still starts, with a warning.
func prepareDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return vise.Errorf(vise.CodeUnavailable, "cannot create data directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return vise.Errorf(vise.CodeUnavailable, "data directory %s: %w", dir, err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		log.Warn("the data directory is open to other users and cannot be tightened; chmod 700 it", "dir", dir, "mode", fmt.Sprintf("%#o", perm), "err", err)
		return nil
	}
	log.Warn("tightened the data directory to owner-only (0700)", "dir", dir, "was", fmt.Sprintf("%#o", perm))
	return nil
}
