package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
)

// selfUpdate replaces the agent when the deployment brings a vise.agent
// binary other than the running one (docs/decisions/0021): the binary,
// already verified against the signed metadata, is staged and started as
// a candidate beside this agent; it must reach the server with the
// device's identity and report healthy within the recipe's
// candidate_timeout. Then the agent/current link flips (the commit point)
// and ErrTakeover hands this process over to it. Otherwise this agent
// stays and the deployment fails with the reason. Nothing of the running
// generation is touched before the flip.
func (a *Agent) selfUpdate(ctx context.Context, id string, r *vise.Recipe, fetched time.Duration) error {
	if len(r.Artifacts) != 1 || r.Artifacts[0].Name != deviceapi.AgentArtifact {
		return vise.Errorf(vise.CodeInvalid, "%s@%s must carry exactly one artifact, %s", r.Name, r.Version, deviceapi.AgentArtifact)
	}
	sha := r.Artifacts[0].SHA256
	self, err := a.selfSHA()
	if err != nil {
		return fmt.Errorf("read the running agent binary: %w", err)
	}
	if sha == self {
		return nil // this binary is that version already
	}
	if !a.cfg.SelfUpdate {
		return vise.Errorf(vise.CodeInvalid, "%s@%s: this agent runs as 'vise agent', which cannot replace itself; run vise-agent (the package's service) to update the agent through Vise", r.Name, r.Version)
	}
	timeout, err := candidateTimeout(r)
	if err != nil {
		return err
	}
	bin, err := a.stageAgent(sha)
	if err != nil {
		return err
	}
	if err := checkArch(bin); err != nil {
		return vise.Errorf(vise.CodeInvalid, "%s@%s: %w; this agent stays", r.Name, r.Version, err)
	}
	prev, _ := os.Readlink(currentAgentLink(a.cfg.DataDir))
	st := &updateState{Deployment: id, Phase: phaseCandidate, From: self, To: sha, Previous: prev, Timeout: timeout,
		Timings: SwapTimings{DownloadVerifyMS: ms(fetched)}}
	if err := saveUpdateState(a.cfg.DataDir, st); err != nil {
		return err
	}
	a.log.Info("self-update: starting the new agent as a candidate", "version", r.Version, "sha256", sha, "timeout", timeout)
	started := time.Now()
	cand, err := a.startCandidate(ctx, bin, timeout)
	a.forgetHealth(deviceapi.AgentComponent) // the candidate's report is not the running agent's health
	if err != nil {
		st.Phase, st.Reason = phaseDone, err.Error()
		saveUpdateState(a.cfg.DataDir, st)
		os.Remove(bin)
		return vise.Errorf(vise.CodeInternal, "%s@%s: the new agent %w; this agent stays", r.Name, r.Version, err)
	}
	healthy := time.Now()
	st.Timings.CandidateMS = ms(healthy.Sub(started))
	holdAt(ctx, a.cfg.DataDir, "candidate-healthy", a.log)
	cand.stop()
	st.Phase, st.TakeoverStarted = phaseCommitted, healthy
	if err := saveUpdateState(a.cfg.DataDir, st); err != nil {
		return err
	}
	a.stopAll()
	if err := flipAgentLink(a.cfg.DataDir, filepath.Join("bin", sha)); err != nil {
		return fmt.Errorf("switch agent/current to the new agent: %w", err)
	}
	a.log.Info("self-update: the new agent takes over", "version", r.Version, "candidate_ms", st.Timings.CandidateMS)
	holdAt(ctx, a.cfg.DataDir, "committed", a.log)
	return ErrTakeover
}

func candidateTimeout(r *vise.Recipe) (time.Duration, error) {
	v, ok := r.Configuration[deviceapi.CandidateTimeoutKey]
	if !ok {
		v = deviceapi.DefaultCandidateTimeout
	}
	s, _ := v.(string)
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, vise.Errorf(vise.CodeInvalid, "%s@%s: %s %v is not a duration", r.Name, r.Version, deviceapi.CandidateTimeoutKey, v)
	}
	return d, nil
}

// stageAgent links the verified binary out of the artifact cache into
// agent/bin/<sha256>, where it outlives the cache's garbage collection.
func (a *Agent) stageAgent(sha string) (string, error) {
	bin := stagedAgent(a.cfg.DataDir, sha)
	if err := os.MkdirAll(filepath.Dir(bin), 0o700); err != nil {
		return "", err
	}
	if err := os.Link(a.casPath(sha), bin); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("stage the new agent: %w", err)
	}
	return bin, os.Chmod(bin, 0o755)
}

// selfSHA is the sha256 of the running binary, read once.
func (a *Agent) selfSHA() (string, error) {
	a.selfOnce.Do(func() {
		var p string
		if p, a.selfErr = os.Executable(); a.selfErr == nil {
			a.self, a.selfErr = deviceapi.FileSHA256(p)
		}
	})
	return a.self, a.selfErr
}

// holdAt stops a swap at a named point while the file
// agent/hold-<point> exists, if VISE_AGENT_TEST_HOLD lists that point:
// the tests' way to kill -9 a process exactly there. Unset on devices.
func holdAt(ctx context.Context, data, point string, log interface{ Warn(string, ...any) }) {
	holds := os.Getenv("VISE_AGENT_TEST_HOLD")
	if holds == "" || !containsWord(holds, point) {
		return
	}
	f := filepath.Join(updateDir(data), "hold-"+point)
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		return
	}
	log.Warn("self-update held for a test", "point", point, "release", "rm "+f)
	for ctx.Err() == nil {
		if _, err := os.Stat(f); err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsWord(list, w string) bool {
	for _, s := range strings.Split(list, ",") {
		if s == w {
			return true
		}
	}
	return false
}

// selfState is the running binary's identity, for Agent.
type selfState struct {
	selfOnce sync.Once
	self     string
	selfErr  error
}

func (a *Agent) forgetHealth(component string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.ready, component)
	delete(a.health, component)
}
