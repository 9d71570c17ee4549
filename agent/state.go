package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vise-edge/vise/atomicfile"
	"github.com/vise-edge/vise/deviceapi"
	"os"
	"path/filepath"
)

// State is persisted at every transition a device must survive: a crash
// at any point restarts from the last written state.
type State struct {
	Generation      int64                 `json:"generation"`       // committed generation (0: none)
	LastGood        int64                 `json:"last_good"`        // last generation that became healthy
	Deployment      string                `json:"deployment"`       // deployment the device is working on or runs
	DeploymentState deviceapi.DeviceState `json:"deployment_state"` // vise.Device* state for it
	Message         string                `json:"message,omitempty"`
	Components      map[string]string     `json:"components,omitempty"` // name -> component state
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

func loadState(dir string) (State, error) {
	var st State
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s is corrupt: %w", statePath(dir), err)
	}
	return st, nil
}

// save writes the state atomically (temp file, fsync, rename, fsync dir).
func (a *Agent) save(update func(st *State)) error {
	a.mu.Lock()
	update(&a.state)
	b, _ := json.MarshalIndent(a.state, "", "  ")
	a.mu.Unlock()
	return atomicfile.Write(statePath(a.cfg.DataDir), b, 0o600)
}

// State returns a copy of the agent's state.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}
