package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/atomicfile"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/tufclient"
)

// manifest describes a generation: what it runs, in start order.
type manifest struct {
	Deployment string         `json:"deployment"`
	Components []*vise.Recipe `json:"components"`
	Timeout    vise.Duration  `json:"timeout"`
}

// reconcile asks the server what this device should run and converges.
func (a *Agent) reconcile(ctx context.Context) error {
	if !a.resumed {
		a.resumed = true
		killStale(a.path("run"), a.path("work"), a.log)
		if err := a.settleUpdate(ctx); err != nil {
			if errors.Is(err, ErrTakeover) {
				return err
			}
			a.log.Warn("settle the agent's self-update", "err", err)
		}
		if a.State().Generation > 0 {
			if err := a.resume(ctx); err != nil {
				a.log.Warn("resume generation", "generation", a.State().Generation, "err", err)
			}
		}
	}
	d, err := a.currentDeployment(ctx)
	if err != nil || d == nil {
		return err
	}
	st := a.State()
	if d.ID == st.Deployment && (st.DeploymentState == vise.DeviceRunning || st.DeploymentState == vise.DeviceFailed) {
		return nil
	}
	timeout := time.Duration(d.Rollout.DeviceTimeout)
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	superseded := a.watchSupersede(dctx, d.ID, cancel)
	defer a.releaseMemory()
	err = a.applyRetrying(dctx, d.ID, timeout)
	if errors.Is(err, ErrTakeover) {
		superseded()
		return err
	}
	if superseded() {
		a.log.Info("deployment superseded by a newer one", "deployment", d.ID)
		a.report(ctx, d.ID, vise.DeviceSuperseded, "superseded by a newer deployment")
		return nil
	}
	if err != nil {
		a.Metrics.add(func(m *Metrics) { m.DeploymentsFailed++ })
		a.log.Error("deployment failed", "deployment", d.ID, "err", err)
		a.report(ctx, d.ID, vise.DeviceFailed, err.Error())
		return nil
	}
	return nil
}

// currentDeployment asks the server what this device should run; nil if
// nothing.
func (a *Agent) currentDeployment(ctx context.Context) (*vise.Deployment, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.Server+deviceapi.DeploymentPath, nil)
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp, "get deployment")
	}
	var d vise.Deployment
	return &d, json.NewDecoder(resp.Body).Decode(&d)
}

// watchSupersede cancels the deployment being applied when the server
// announces a newer one for this device. The returned func tells whether
// that happened; it also stops the watch.
func (a *Agent) watchSupersede(ctx context.Context, id string, cancel context.CancelFunc) func() bool {
	var hit atomic.Bool
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-a.kick:
				if d, err := a.currentDeployment(ctx); err == nil && d != nil && d.ID != id {
					hit.Store(true)
					cancel()
					a.kickReconcile()
					return
				}
			}
		}
	}()
	return func() bool {
		close(done)
		<-stopped
		return hit.Load()
	}
}

func (a *Agent) report(ctx context.Context, id string, state vise.DeviceState, msg string) {
	if err := a.save(func(st *State) { st.Deployment, st.DeploymentState, st.Message = id, state, msg }); err != nil {
		a.log.Error("save state", "err", err)
	}
	a.publishStatus(ctx)
}

// apply verifies and downloads everything, prepares the new generation
// beside the running one, swaps, and keeps it only if every component
// becomes healthy in time; otherwise the last good generation comes back.
func (a *Agent) apply(ctx context.Context, id string, timeout time.Duration) error {
	a.log.Info("applying deployment", "deployment", id)
	start := time.Now()
	a.report(ctx, id, vise.DeviceDownloading, "")
	a.phase("download")
	v, doc, recipes, err := a.signedDocument(ctx, id)
	if err != nil {
		return err
	}
	ordered := make([]*vise.Recipe, 0, len(doc.Components))
	for _, c := range doc.Components {
		r := recipes[c.Name]
		for _, art := range r.Artifacts {
			size, sha, err := v.artifact(art.SHA256)
			if err != nil {
				return err
			}
			if size != art.Size || sha != art.SHA256 {
				return vise.Errorf(vise.CodeInvalid, "artifact %s of %s: the recipe and the signed metadata disagree", art.Name, r.Name)
			}
			if err := a.fetchArtifact(ctx, sha, size); err != nil {
				return err
			}
		}
		ordered = append(ordered, r)
	}
	if r := recipes[deviceapi.AgentComponent]; r != nil {
		a.report(ctx, id, vise.DeviceInstalling, "")
		if err := a.selfUpdate(ctx, id, r, time.Since(start)); err != nil {
			return err // ErrTakeover: the new agent goes on with this deployment
		}
	}
	a.report(ctx, id, vise.DeviceInstalling, "")
	a.phase("install")
	gen, err := a.prepare(ctx, doc, ordered, timeout)
	if err != nil {
		return err
	}
	return a.switchTo(ctx, id, gen)
}

// signedDocument fetches the release metadata and the deployment document
// with its recipes, verified. A document not listed yet (the server may
// still be signing it) is looked for again, for up to about 30 s, before
// the deployment is given up as failed.
func (a *Agent) signedDocument(ctx context.Context, id string) (*verifier, *deviceapi.Document, map[string]*vise.Recipe, error) {
	wait := 500 * time.Millisecond
	for {
		v, err := a.newVerifier(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		doc, recipes, err := v.document(ctx, id)
		if !errors.Is(err, tufclient.ErrNotListed) || wait > 16*time.Second {
			return v, doc, recipes, err
		}
		a.log.Info("deployment document not signed yet; looking again", "deployment", id, "in", wait)
		select {
		case <-ctx.Done():
			return nil, nil, nil, err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (a *Agent) genDir(n int64) string { return a.path("generations", strconv.FormatInt(n, 10)) }

// prepare lays out generation n+1: per component its artifacts (links into
// the cache), its configuration (defaults merged with the deployment's
// overrides), then runs install steps. Nothing running is touched.
func (a *Agent) prepare(ctx context.Context, doc *deviceapi.Document, recipes []*vise.Recipe, timeout time.Duration) (int64, error) {
	n := a.nextGeneration()
	dir := a.genDir(n)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	for _, r := range recipes {
		cdir := filepath.Join(tmp, r.Name)
		for _, art := range r.Artifacts {
			dst := filepath.Join(cdir, "artifacts", art.Name)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return 0, err
			}
			if err := os.Link(a.casPath(art.SHA256), dst); err != nil {
				return 0, fmt.Errorf("lay out %s: %w", art.Name, err)
			}
			if art.Executable {
				os.Chmod(a.casPath(art.SHA256), 0o755)
			}
		}
		conf := map[string]any{}
		for k, v := range r.Configuration {
			conf[k] = v
		}
		for k, v := range doc.Configuration[r.Name] {
			conf[k] = v
		}
		b, _ := json.MarshalIndent(conf, "", "  ")
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return 0, err
		}
		if err := writeSync(filepath.Join(cdir, "config.json"), b, 0o644); err != nil {
			return 0, err
		}
	}
	m, _ := json.MarshalIndent(manifest{Deployment: doc.ID, Components: recipes, Timeout: vise.Duration(timeout)}, "", "  ")
	if err := writeSync(filepath.Join(tmp, "manifest.json"), m, 0o644); err != nil {
		return 0, err
	}
	for _, r := range recipes {
		if s := r.Lifecycle.Install; s != nil {
			env := a.componentEnv(tmp, r)
			if err := runStep(ctx, s.Script, filepath.Join(tmp, r.Name), env, stepTimeout(s, 5*time.Minute), a.log); err != nil {
				os.RemoveAll(tmp)
				return 0, vise.Errorf(vise.CodeInternal, "install step of %s@%s failed: %w", r.Name, r.Version, err)
			}
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return 0, err
	}
	return n, atomicfile.SyncDir(filepath.Dir(dir))
}

func stepTimeout(s *vise.Step, def time.Duration) time.Duration {
	if s.Timeout > 0 {
		return time.Duration(s.Timeout)
	}
	return def
}

func (a *Agent) workDir(component string) string { return a.path("work", component) }

func (a *Agent) nextGeneration() int64 {
	next := a.State().Generation
	entries, _ := os.ReadDir(a.path("generations"))
	for _, e := range entries {
		if n, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".tmp"), 10, 64); err == nil && n > next {
			next = n
		}
	}
	return next + 1
}

// switchTo stops the running generation, commits the new one (the
// "current" link is the commit point), starts it and waits for health. On
// failure the last good generation is restored and started again.
func (a *Agent) switchTo(ctx context.Context, id string, gen int64) error {
	prev := a.State().LastGood
	a.stopAll()
	a.phase("switch") // the old generation stopped, the new one not committed
	if err := a.commit(gen); err != nil {
		return err
	}
	a.phase("health") // committed, not known healthy yet
	m, err := readManifest(a.genDir(gen))
	if err != nil {
		return err
	}
	err = a.startGeneration(ctx, gen, m)
	if err == nil {
		a.save(func(st *State) { st.LastGood = gen })
		a.report(ctx, id, vise.DeviceRunning, "")
		a.gc(gen, prev)
		a.log.Info("deployment running", "deployment", id, "generation", gen)
		return nil
	}
	a.log.Warn("new generation unhealthy; rolling back", "generation", gen, "to", prev, "err", err)
	a.stopAll()
	if prev == 0 {
		// Nothing ran before: leave no generation committed, so a restart
		// does not start the failed one.
		os.Remove(a.path("current"))
		a.save(func(st *State) { st.Generation = 0 })
		return vise.Errorf(vise.CodeInternal, "stopped it; the device runs nothing: %w", err)
	}
	if cerr := a.commit(prev); cerr == nil {
		if pm, merr := readManifest(a.genDir(prev)); merr == nil {
			a.startGeneration(context.WithoutCancel(ctx), prev, pm)
		}
	}
	// Unhealthy on the device is a runtime failure, not bad input.
	return vise.Errorf(vise.CodeInternal, "rolled back to generation %d: %w", prev, err)
}

// commit points "current" at generation n atomically (symlink + rename)
// and records it.
func (a *Agent) commit(n int64) error {
	link := a.path("current")
	tmp := link + ".tmp"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("generations", strconv.FormatInt(n, 10)), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, link); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(a.cfg.DataDir); err != nil {
		return err
	}
	return a.save(func(st *State) { st.Generation = n })
}

func readManifest(dir string) (*manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m manifest
	return &m, json.Unmarshal(b, &m)
}

// gc removes generations other than the current and the previous good one,
// and cached artifacts no kept generation uses.
func (a *Agent) gc(keep ...int64) {
	entries, _ := os.ReadDir(a.path("generations"))
	kept := map[string]bool{}
	for _, k := range keep {
		kept[strconv.FormatInt(k, 10)] = true
	}
	used := map[string]bool{}
	for _, e := range entries {
		if !kept[e.Name()] {
			os.RemoveAll(filepath.Join(a.path("generations"), e.Name()))
			continue
		}
		if m, err := readManifest(filepath.Join(a.path("generations"), e.Name())); err == nil {
			for _, r := range m.Components {
				for _, art := range r.Artifacts {
					used[art.SHA256] = true
				}
			}
		}
	}
	cached, _ := os.ReadDir(a.path("artifacts", "sha256"))
	for _, c := range cached {
		if !used[c.Name()] {
			os.Remove(a.casPath(c.Name()))
		}
	}
}

// releaseMemory: see Config.ReleaseMemory.
func (a *Agent) releaseMemory() {
	if a.cfg.ReleaseMemory {
		debug.FreeOSMemory()
	}
}
