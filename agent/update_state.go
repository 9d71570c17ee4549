package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vise-edge/vise/atomicfile"
)

// updatePhase is where a self-update stands (docs/decisions/0021). The
// commit point is not a phase but the agent/current link: which binary
// runs after a restart decides which side of it the swap is on.
type updatePhase string

const (
	// phaseCandidate: the new binary is staged and may be running as a
	// candidate beside this agent; nothing is switched.
	phaseCandidate updatePhase = "candidate"
	// phaseCommitted: the candidate proved itself; the link is flipped (or
	// about to be) and the new binary takes over.
	phaseCommitted updatePhase = "committed"
	// phaseRolledBack: the new binary kept failing after the flip; the
	// link points back at the previous one.
	phaseRolledBack updatePhase = "rolled-back"
	// phaseDone: the outcome was reported; nothing is pending.
	phaseDone updatePhase = "done"
)

// updateState is <data>/agent/update.json, written atomically at every
// transition so that a kill -9 at any point resolves on the next start.
type updateState struct {
	Deployment string      `json:"deployment"`
	Phase      updatePhase `json:"phase"`
	From       string      `json:"from"`               // sha256 of the binary that started the swap
	To         string      `json:"to"`                 // sha256 of the new binary
	Previous   string      `json:"previous,omitempty"` // agent/current before the flip; "": the packaged binary
	Boots      int         `json:"boots,omitempty"`    // starts of the new binary before it confirmed
	Reason     string      `json:"reason,omitempty"`
	// Timeout is the candidate_timeout: also the new binary's time to
	// reach the broker once it has taken over.
	Timeout time.Duration `json:"timeout_ns"`
	// TakeoverStarted is when the old agent began handing over (wall
	// clock: the measurement spans an exec).
	TakeoverStarted time.Time   `json:"takeover_started,omitzero"`
	Timings         SwapTimings `json:"timings"`
}

// SwapTimings are a self-update's measured steps, in milliseconds.
type SwapTimings struct {
	// DownloadVerifyMS: fetching the signed metadata and the deployment's
	// artifacts, each checked against it.
	DownloadVerifyMS float64 `json:"download_verify_ms"`
	// CandidateMS: from starting the candidate to its healthy report
	// (connected to the device API and the broker as the device).
	CandidateMS float64 `json:"candidate_ms"`
	// TakeoverMS: from the healthy report to the new binary, in this
	// agent's place, connected to the broker.
	TakeoverMS float64 `json:"takeover_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func updateDir(data string) string       { return filepath.Join(data, "agent") }
func updateStatePath(data string) string { return filepath.Join(updateDir(data), "update.json") }
func currentAgentLink(data string) string {
	return filepath.Join(updateDir(data), "current")
}
func stagedAgent(data, sha string) string { return filepath.Join(updateDir(data), "bin", sha) }

func loadUpdateState(data string) (*updateState, error) {
	b, err := os.ReadFile(updateStatePath(data))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st updateState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w; remove it (the agent then runs the binary agent/current points at)", updateStatePath(data), err)
	}
	return &st, nil
}

func saveUpdateState(data string, st *updateState) error {
	if err := os.MkdirAll(updateDir(data), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	return atomicfile.Write(updateStatePath(data), b, 0o600)
}

// LoadSwapTimings returns the timings of the last self-update recorded in
// dataDir, and whether there is one.
func LoadSwapTimings(dataDir string) (SwapTimings, bool, error) {
	st, err := loadUpdateState(dataDir)
	if st == nil || err != nil {
		return SwapTimings{}, false, err
	}
	return st.Timings, true, nil
}

// flipAgentLink points agent/current at target (relative to agent/), or
// removes it when target is "" (the packaged binary runs), atomically.
func flipAgentLink(data, target string) error {
	link := currentAgentLink(data)
	if target == "" {
		if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return atomicfile.SyncDir(updateDir(data))
	}
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		return err
	}
	return atomicfile.SyncDir(updateDir(data))
}
