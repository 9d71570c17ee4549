package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// ErrTakeover ends Agent.Run when another agent binary is to run in this
// process's place: the caller execs Launcher(), which runs whatever
// agent/current points at (Launch).
var ErrTakeover = errors.New("another agent binary takes over")

// launcherEnv carries the path of the binary the service started (the
// packaged /usr/bin/vise-agent) across execs, so a takeover or a rollback
// goes through Launch again.
const launcherEnv = "VISE_AGENT_LAUNCHER"

// maxBoots is how often a new binary may start after the flip without
// reaching the server before the launcher flips back (a crash loop under
// the service's Restart=always).
const maxBoots = 3

// Launcher is the binary to exec for a takeover: the one the service
// started.
func Launcher() string {
	if p := os.Getenv(launcherEnv); p != "" {
		return p
	}
	p, _ := os.Executable()
	return p
}

// Launch is the first thing vise-agent does: it returns the binary that
// should run the agent on dataDir — the one agent/current points at — or ""
// if that is this one (or there is none: the packaged binary runs). A new
// binary that started maxBoots times after its flip without confirming is
// flipped back here, so a crash loop ends on the previous agent.
func Launch(dataDir string, log *slog.Logger) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if os.Getenv(launcherEnv) == "" {
		os.Setenv(launcherEnv, self)
	}
	data, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	target, err := os.Readlink(currentAgentLink(data))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if sameFile(filepath.Join(updateDir(data), target), self) {
		return "", nil // the new binary itself, exec'd by the launcher
	}
	st, err := loadUpdateState(data)
	if err != nil {
		return "", err
	}
	if st != nil && st.Phase == phaseCommitted && target == filepath.Join("bin", st.To) {
		st.Boots++
		if st.Boots > maxBoots {
			st.Phase, st.Reason = phaseRolledBack, fmt.Sprintf("the new agent started %d times without reaching the server; rolled back", maxBoots)
			log.Error("self-update: "+st.Reason, "to", st.To, "back_to", st.Previous)
			if err := flipAgentLink(data, st.Previous); err != nil {
				return "", err
			}
			target = st.Previous
		}
		if err := saveUpdateState(data, st); err != nil {
			return "", err
		}
	}
	if target == "" {
		return "", nil
	}
	bin := filepath.Join(updateDir(data), target)
	fi, err := os.Stat(bin)
	if err != nil || fi.Mode()&0o111 == 0 {
		log.Warn("agent/current names no executable agent; running this one", "link", currentAgentLink(data), "target", target, "err", err)
		return "", nil
	}
	if sameFile(bin, self) {
		return "", nil
	}
	return bin, nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
