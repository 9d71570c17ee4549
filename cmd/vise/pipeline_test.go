package main

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store/pgtest"
)

func (e *env) execution(id string) vise.Execution {
	e.t.Helper()
	var x vise.Execution
	if err := json.Unmarshal([]byte(e.ok("pipeline", "show", id, "-o", "json")), &x); err != nil {
		e.t.Fatal(err)
	}
	return x
}

func (e *env) executions() []vise.Execution {
	e.t.Helper()
	var xs []vise.Execution
	if err := json.Unmarshal([]byte(e.ok("pipeline", "list", "-o", "json")), &xs); err != nil {
		e.t.Fatal(err)
	}
	return xs
}

func (e *env) awaitExecution(id string, within time.Duration) vise.Execution {
	e.t.Helper()
	var x vise.Execution
	e.waitFor("execution "+id+" to end", within, func() bool {
		x = e.execution(id)
		return x.Finished()
	})
	return x
}

func stepNames(x vise.Execution) []string {
	var names []string
	for _, s := range x.Steps {
		names = append(names, s.Step)
	}
	return names
}

func findStep(x vise.Execution, name string) *vise.StepRun {
	for i := range x.Steps {
		if x.Steps[i].Step == name {
			return &x.Steps[i]
		}
	}
	return nil
}

// A pipeline definition is data: a user's own, with short waits, stored as
// a version; bad ones are refused with the reason.
const quickDeploy = `name: quick-deploy
description: deploy, settle, wait briefly for the devices, roll back on failure
params:
  model: {required: true}
  target: {required: true}
  inference: {default: ""}
steps:
  - {name: prepare, action: prepare-model, next: deploy}
  - {name: deploy, action: deploy, next: settle, catch: rollback}
  - {name: settle, action: wait, with: {duration: 4s}, next: wait-devices}
  - {name: wait-devices, action: wait-deployment, timeout: 8s, catch: rollback}
  - {name: rollback, action: rollback, end: failed}
`

func TestPipelineDefinitions(t *testing.T) {
	e := startServer(t)
	out := e.ok("pipeline", "apply", e.write("quick.yaml", quickDeploy))
	if !strings.Contains(out, "quick-deploy version 1 stored") {
		t.Errorf("apply: %q", out)
	}
	if out := e.ok("pipeline", "apply", e.write("quick.yaml", quickDeploy)); !strings.Contains(out, "unchanged (version 1)") {
		t.Errorf("re-apply: %q", out)
	}
	if out := e.ok("pipeline", "apply", e.write("quick.yaml", strings.Replace(quickDeploy, "8s", "9s", 1))); !strings.Contains(out, "version 2 stored") {
		t.Errorf("changed apply: %q", out)
	}
	if out := e.ok("pipeline", "definitions"); !strings.Contains(out, "edge-deploy") || !strings.Contains(out, "quick-deploy  2") {
		t.Errorf("definitions: %q", out)
	}
	if out := e.ok("pipeline", "describe", "quick-deploy", "--version", "1"); out != quickDeploy {
		t.Errorf("describe version 1 = %q", out)
	}
	e.fails(2, `unknown action "deploi"`, "pipeline", "apply", e.write("bad.yaml", strings.Replace(quickDeploy, "action: deploy,", "action: deploi,", 1)))
	e.fails(2, "cycle: deploy -> settle -> deploy", "pipeline", "apply", e.write("cycle.yaml", strings.Replace(quickDeploy, "next: wait-devices", "next: deploy", 1)))
	e.fails(2, "pipeline definition is empty", "pipeline", "apply", e.write("empty.yaml", ""))
	e.fails(3, "pipeline nope not found", "pipeline", "run", "nope")

	// Runs refused before anything starts: missing parameters, a target
	// or model that does not exist.
	e.ok("group", "create", "line")
	e.ok("model", "register", "metal-tags", sample(t, "sample-tiny.onnx"))
	e.fails(2, "needs target", "pipeline", "run", "edge-deploy", "--model", "metal-tags")
	e.fails(3, "group nope not found", "pipeline", "run", "edge-deploy", "--model", "metal-tags", "--target", "group:nope")
	e.fails(3, "model nope not found", "pipeline", "run", "edge-deploy", "--model", "nope", "--target", "group:line")
	e.fails(2, `target "line"`, "pipeline", "run", "edge-deploy", "--model", "metal-tags", "--target", "line")
	e.fails(2, "no parameter colour", "pipeline", "run", "edge-deploy", "--model", "metal-tags", "--target", "group:line", "--param", "colour=red")
	e.fails(3, "group nope not found", "model", "targets", "metal-tags", "--set", "group:nope")
	if len(e.executions()) != 0 {
		t.Fatal("a refused run left an execution")
	}
	// The old spelling of a target is taken, stored in the one spelling,
	// and warned about.
	if _, stderr, code := e.vise("model", "targets", "metal-tags", "--set", "group/line"); code != 0 || !strings.Contains(stderr, "warning: target group/line is written the old way") {
		t.Errorf("model targets --set group/line: exit %d, stderr %q; want a deprecation warning", code, stderr)
	}
	if out := e.ok("model", "targets", "metal-tags", "-o", "json"); !strings.Contains(out, `"group:line"`) {
		t.Errorf("model targets after --set group/line: %s; want it stored as group:line", out)
	}
	e.ok("model", "targets", "metal-tags", "--clear")

	// Nothing approved: edge-deploy ends at once, succeeded, deploying nothing.
	x := e.awaitExecution(runID(t, e.ok("pipeline", "run", "edge-deploy", "--model", "metal-tags", "--target", "group:line", "-o", "json")), 30*time.Second)
	if x.Status != vise.ExecutionSucceeded || len(x.Steps) != 1 || !strings.Contains(string(x.Steps[0].Output), "no approved version") {
		t.Errorf("nothing approved: %s %v %s", x.Status, stepNames(x), x.Steps[0].Output)
	}
	if out := e.ok("deployment", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("deployments after a run with nothing approved: %s", out)
	}
}

// sample is the absolute path of a model in samples/models.
func sample(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "samples", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runID(t *testing.T, out string) string {
	t.Helper()
	var x vise.Execution
	if err := json.Unmarshal([]byte(out), &x); err != nil || x.ID == "" {
		t.Fatalf("run output %q: %v", out, err)
	}
	return x.ID
}

// runQuickDeploy runs quick-deploy for an approved model to a group whose
// one device never enrolls nor answers, and waits for its settle step.
func (e *env) runQuickDeploy(t *testing.T) string {
	t.Helper()
	e.ok("pipeline", "apply", e.write("quick.yaml", quickDeploy))
	e.ok("group", "create", "line")
	e.ok("device", "add", "silent-1", "--group", "line") // never enrolls, never answers
	e.ok("model", "register", "metal-tags", sample(t, "sample-tiny.onnx"))
	e.ok("model", "approve", "metal-tags", "1")
	id := runID(t, e.ok("pipeline", "run", "quick-deploy", "--model", "metal-tags", "--target", "group:line", "-o", "json"))
	e.waitFor("the settle step to wait", 30*time.Second, func() bool {
		s := findStep(e.execution(id), "settle")
		return s != nil && s.Status == vise.StepWaiting
	})
	return id
}

// An execution survives kill -9 of the server in the middle of a wait: the
// restarted server goes on from that step, repeats none of the finished
// ones, and a device that never answers fails it with the reason. On
// SQLite the worst case is forced: the kill lands in the middle of the
// step's check, leaving its job running under the dead server, which the
// restarted server (SQLite has one) takes back at once. On PostgreSQL such
// a step waits for River's rescuer (over a minute even with a 5 s rescue
// delay: the dead leader's lease, then the rescuer's 30 s round), so there
// the kill comes while the step is parked, as it is nearly all the time.
func TestPipelineSurvivesKill9(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			data := t.TempDir()
			dbURL := filepath.Join(data, "vise.db")
			if engine == "postgres" {
				dbURL = pgtest.NewDatabase(t)
			}
			flags := []string{"--pipeline-rescue-after", "5s", "--db", dbURL}
			e, cmd := startServerOn(t, data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", flags...)
			id := e.runQuickDeploy(t)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			killedAt := time.Now()
			if engine == "sqlite" {
				markRunning(t, dbURL)
			}
			e, _ = startServerOn(t, data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", flags...)
			checkResumed(t, e, e.awaitExecution(id, 180*time.Second), killedAt) // room for a rescue on PostgreSQL
		})
	}
}

// markRunning puts the newest step job back to running, as if the server
// had died in the middle of it.
func markRunning(t *testing.T, dbURL string) {
	t.Helper()
	db, err := sql.Open("sqlite", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE river_job SET state = 'running', attempted_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
		WHERE id = (SELECT MAX(id) FROM river_job WHERE kind = 'vise.pipeline.step')`); err != nil {
		t.Fatal(err)
	}
}

func checkResumed(t *testing.T, e *env, x vise.Execution, killedAt time.Time) {
	t.Helper()
	if x.Status != vise.ExecutionFailed || !strings.Contains(x.Error, "step wait-devices: timed out after 8s") || !strings.Contains(x.Error, "silent-1 PENDING") {
		t.Errorf("execution %s %q, want FAILED with the silent device named", x.Status, x.Error)
	}
	want := []string{"prepare", "deploy", "settle", "wait-devices", "rollback"}
	if got := stepNames(x); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("steps %v, want %v", got, want)
	}
	for _, name := range []string{"prepare", "deploy"} {
		if s := findStep(x, name); s.Attempts != 1 || s.FinishedAt == nil || s.FinishedAt.After(killedAt) {
			t.Errorf("step %s ran again after the restart: %+v", name, s)
		}
	}
	if s := findStep(x, "wait-devices"); s.FinishedAt == nil || s.FinishedAt.Before(killedAt) {
		t.Errorf("wait-devices did not finish after the restart: %+v", s)
	}
	var ds []vise.Deployment
	json.Unmarshal([]byte(e.ok("deployment", "list", "-o", "json")), &ds)
	if len(ds) != 1 {
		t.Errorf("%d deployments, want the one the deploy step made once", len(ds))
	}
	if s := findStep(x, "rollback"); s.Status != vise.ExecutionSucceeded || !strings.Contains(string(s.Output), "nothing to roll back to") {
		t.Errorf("rollback: %+v", s)
	}
}

// Cancel stops an execution between steps; it cannot be cancelled twice.
func TestPipelineCancel(t *testing.T) {
	e := startServer(t)
	id := e.runQuickDeploy(t)
	if out := e.ok("pipeline", "cancel", id); !strings.Contains(out, "CANCELED") {
		t.Errorf("cancel: %q", out)
	}
	e.fails(4, "already ended CANCELED", "pipeline", "cancel", id)
	e.waitFor("the waiting step to stop", 30*time.Second, func() bool {
		s := findStep(e.execution(id), "settle")
		return s.Status == vise.ExecutionCanceled
	})
	if x := e.execution(id); findStep(x, "wait-devices") != nil || x.Status != vise.ExecutionCanceled {
		t.Errorf("after cancel: %s %v", x.Status, stepNames(x))
	}
	e.fails(3, "execution nope not found", "pipeline", "show", "nope")
}

// modelResults counts a device's results made by the model with digest sha,
// and returns when the newest of them arrived.
func (e *env) modelResults(device, sha string) (n int, newest time.Time) {
	e.t.Helper()
	for _, r := range e.results(device) {
		var p struct{ Model struct{ SHA256 string } }
		if json.Unmarshal(r.Payload, &p) == nil && p.Model.SHA256 == sha {
			n++
			if r.ReceivedAt.After(newest) {
				newest = r.ReceivedAt
			}
		}
	}
	return n, newest
}

func (e *env) modelSHA(name, version string) string {
	e.t.Helper()
	var mv vise.ModelVersion
	json.Unmarshal([]byte(e.ok("model", "show", name, version, "-o", "json")), &mv)
	return mv.Artifact.SHA256
}

// The whole story on loopback: approving a model version starts edge-deploy
// for the model's target group; the canary device, then the group, run the
// new model and send results made by it. A version that cannot run on the
// devices fails at the canary, is rolled back there, and never reaches the
// rest of the group.
func TestEdgeDeployPipeline(t *testing.T) {
	lib := ortLib(t)
	e := startServer(t)
	e.inspectComponents(lib, ">=1.0.0", "300ms")
	e.ok("group", "create", "line")
	e.startAgent("cam-1", "line")
	e.startAgent("cam-2", "line")
	e.ok("model", "register", "metal-tags", sample(t, "metal-tags.onnx"))
	e.ok("model", "targets", "metal-tags", "--set", "group:line")
	sha1 := e.modelSHA("metal-tags", "1")

	approved := time.Now()
	e.ok("model", "approve", "metal-tags", "1")
	var first time.Duration
	e.waitFor("a result from the approved model", 120*time.Second, func() bool {
		n, _ := e.modelResults("cam-1", sha1)
		first = time.Since(approved)
		return n > 0
	})
	t.Logf("model approve -> first result from the new model on a device: %s", first.Round(10*time.Millisecond))
	xs := e.executions()
	if len(xs) != 1 || xs[0].Cause != "model metal-tags/1 approved" {
		t.Fatalf("executions after approval: %+v", xs)
	}
	x := e.awaitExecution(xs[0].ID, 180*time.Second)
	want := []string{"prepare", "canary", "wait-canary", "verify-canary", "rollout", "wait-rollout", "verify"}
	if x.Status != vise.ExecutionSucceeded || strings.Join(stepNames(x), ",") != strings.Join(want, ",") {
		t.Fatalf("execution %s %s, steps %v", x.Status, x.Error, stepNames(x))
	}
	t.Logf("model approve -> edge-deploy SUCCEEDED (both devices verified): %s", x.FinishedAt.Sub(approved).Round(10*time.Millisecond))
	canary := deploymentOf(t, e, findStep(x, "canary"))
	if len(canary.Devices) != 1 || canary.Devices[0].Device != "cam-1" {
		t.Errorf("canary deployment went to %+v, want cam-1 alone", canary.Devices)
	}
	if n, _ := e.modelResults("cam-2", sha1); n == 0 {
		t.Error("cam-2 sent no result from the new model, yet the execution verified it")
	}

	// Version 2 is a valid ONNX file outside the detector contract:
	// vise-infer refuses it on the canary.
	off, _ := filepath.Abs(filepath.Join("testdata", "off-contract.onnx"))
	e.ok("model", "register", "metal-tags", off)
	e.ok("model", "approve", "metal-tags", "2")
	var second vise.Execution
	e.waitFor("a second execution", 30*time.Second, func() bool {
		xs = e.executions()
		return len(xs) == 2
	})
	second = e.awaitExecution(xs[0].ID, 240*time.Second)
	if second.Status != vise.ExecutionFailed || !strings.HasPrefix(second.Error, "step wait-canary: deployment") {
		t.Fatalf("second execution %s %q, want FAILED at wait-canary; steps %v", second.Status, second.Error, stepNames(second))
	}
	if findStep(second, "rollout") != nil {
		t.Error("the rollout ran after the canary failed")
	}
	for _, name := range []string{"rollback", "wait-rollback"} {
		if s := findStep(second, name); s == nil || s.Status != vise.ExecutionSucceeded {
			t.Errorf("step %s: %+v", name, s)
		}
	}
	rb := deploymentOf(t, e, findStep(second, "rollback"))
	if !strings.Contains(refsText(rb.Components), "vise.model.metal-tags@1.0.0") || rb.Status != vise.DeploymentSucceeded {
		t.Errorf("rollback deployment %s %s, want model 1.0.0 running", rb.Status, refsText(rb.Components))
	}
	// cam-2 never saw version 2; cam-1 infers with version 1 again.
	var ds []vise.Deployment
	json.Unmarshal([]byte(e.ok("deployment", "list", "-o", "json")), &ds)
	for _, d := range ds {
		full := deploymentOf(t, e, &vise.StepRun{Output: json.RawMessage(`{"deployment":"` + d.ID + `"}`)})
		if strings.Contains(refsText(d.Components), "metal-tags@2.0.0") {
			for _, dd := range full.Devices {
				if dd.Device == "cam-2" {
					t.Errorf("deployment %s of model 2 included cam-2", d.ID)
				}
			}
		}
	}
	rolledBack := time.Now()
	e.waitFor("cam-1 to infer with model 1 again", 60*time.Second, func() bool {
		_, newest := e.modelResults("cam-1", sha1)
		return newest.After(rolledBack)
	})
}

func deploymentOf(t *testing.T, e *env, s *vise.StepRun) vise.Deployment {
	t.Helper()
	var out struct{ Deployment string }
	if s == nil || json.Unmarshal(s.Output, &out) != nil || out.Deployment == "" {
		t.Fatalf("step has no deployment: %+v", s)
	}
	var d vise.Deployment
	json.Unmarshal([]byte(e.ok("deployment", "show", out.Deployment, "-o", "json")), &d)
	return d
}
