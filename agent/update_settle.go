package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vise-edge/vise"
)

// settleUpdate resolves a self-update the agent finds on start, before it
// looks at deployments. Which binary runs decides (the agent/current link
// is the commit point): the new one confirms once it reaches the broker —
// or, if it cannot within the candidate timeout, flips the link back and
// hands over to the previous one; any other binary means the swap did not
// happen (interrupted before the flip, or rolled back), and the
// deployment is reported FAILED with the reason.
func (a *Agent) settleUpdate(ctx context.Context) error {
	st, err := loadUpdateState(a.cfg.DataDir)
	if err != nil || st == nil || st.Phase == phaseDone {
		return err
	}
	self, err := a.selfSHA()
	if err != nil {
		return err
	}
	if st.To == self && st.Phase != phaseRolledBack {
		return a.confirmUpdate(ctx, st)
	}
	reason := st.Reason
	if st.Phase != phaseRolledBack || reason == "" {
		reason = fmt.Sprintf("the swap to agent %.12s was interrupted before the new agent took over (this agent restarted); agent %.12s stays", st.To, self)
	}
	st.Phase, st.Reason = phaseDone, reason
	if err := saveUpdateState(a.cfg.DataDir, st); err != nil {
		return err
	}
	if target, _ := os.Readlink(currentAgentLink(a.cfg.DataDir)); target != filepath.Join("bin", st.To) {
		os.Remove(stagedAgent(a.cfg.DataDir, st.To))
	}
	a.Metrics.add(func(m *Metrics) { m.DeploymentsFailed++ })
	a.log.Error("self-update failed", "deployment", st.Deployment, "reason", reason)
	a.report(ctx, st.Deployment, vise.DeviceFailed, vise.Errorf(vise.CodeInvalid, "%s", reason).Error())
	return nil
}

// confirmUpdate is the new binary's side: it has taken over once it is
// connected. The deployment then goes on as usual (its other components).
func (a *Agent) confirmUpdate(ctx context.Context, st *updateState) error {
	holdAt(ctx, a.cfg.DataDir, "taking-over", a.log)
	timeout := st.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	deadline := time.Now().Add(timeout)
	for !a.linkUp.Load() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			st.Phase, st.Reason = phaseRolledBack, fmt.Sprintf("the new agent took over but did not reach the broker within %s; rolled back", timeout)
			a.log.Error("self-update: "+st.Reason, "back_to", st.Previous)
			if err := flipAgentLink(a.cfg.DataDir, st.Previous); err != nil {
				return err
			}
			if err := saveUpdateState(a.cfg.DataDir, st); err != nil {
				return err
			}
			return ErrTakeover
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !st.TakeoverStarted.IsZero() && st.Boots <= 1 {
		st.Timings.TakeoverMS = ms(time.Since(st.TakeoverStarted))
	}
	st.Phase = phaseDone
	if err := saveUpdateState(a.cfg.DataDir, st); err != nil {
		return err
	}
	pruneAgents(a.cfg.DataDir, st.To, filepath.Base(st.Previous))
	a.log.Info("self-update: the new agent took over", "deployment", st.Deployment,
		"download_verify_ms", st.Timings.DownloadVerifyMS, "candidate_ms", st.Timings.CandidateMS, "takeover_ms", st.Timings.TakeoverMS)
	return nil
}

// pruneAgents removes staged agent binaries but the running one and the
// one to roll back to.
func pruneAgents(data string, keep ...string) {
	entries, _ := os.ReadDir(filepath.Dir(stagedAgent(data, "x")))
	for _, e := range entries {
		if !slices.Contains(keep, e.Name()) {
			os.Remove(stagedAgent(data, e.Name()))
		}
	}
}
