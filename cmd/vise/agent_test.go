package main

import (
	"bytes"
	"encoding/json"
	"github.com/vise-edge/vise/deviceapi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

// These tests run the server, the CLI and agents as separate processes on
// loopback, the way a plant runs them.

type agentProc struct {
	cmd  *exec.Cmd
	data string
	log  *bytes.Buffer
}

func (e *env) startAgent(name, group string) *agentProc {
	e.t.Helper()
	args := []string{"device", "token", "create", "-o", "json"}
	if group != "" {
		args = append(args, "--group", group)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(e.ok(args...)), &tok); err != nil {
		e.t.Fatal(err)
	}
	a := &agentProc{data: filepath.Join(e.t.TempDir(), name), log: &bytes.Buffer{}}
	e.runAgent(a, name, "--token", tok.Token)
	e.waitFor(name+" to enroll and report", 30*time.Second, func() bool { return deviceSeen(e, name) })
	return a
}

// runAgent starts (or restarts) an agent process on its data directory.
func (e *env) runAgent(a *agentProc, name string, extra ...string) {
	e.t.Helper()
	args := append([]string{"agent", "--server", e.deviceURL, "--data", a.data, "--name", name, "--reconcile", "1s"}, extra...)
	a.cmd = exec.Command(viseBin, args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		a.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			e.t.Error("agent did not stop within 20s of SIGTERM")
		}
		if e.t.Failed() {
			e.t.Logf("agent %s log:\n%s", name, a.log.String())
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func (e *env) waitFor(what string, within time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deviceStatus is a device's status report, with Telemetry never nil.
type deviceStatus struct{ deviceapi.Status }

func (e *env) status(device string) deviceStatus {
	e.t.Helper()
	var d vise.Device
	out, _, code := e.vise("device", "show", device, "-o", "json")
	st := deviceStatus{deviceapi.Status{Telemetry: &deviceapi.Telemetry{}}}
	if code == 0 && json.Unmarshal([]byte(out), &d) == nil && len(d.Status) > 0 {
		json.Unmarshal(d.Status, &st.Status)
	}
	if st.Telemetry == nil {
		st.Telemetry = &deviceapi.Telemetry{}
	}
	return st
}

func (e *env) deployTo(device string, comps ...string) string {
	e.t.Helper()
	args := []string{"deploy", "--device", device, "-o", "json", "--device-timeout", "30s"}
	for _, c := range comps {
		args = append(args, "--component", c)
	}
	var d vise.Deployment
	if err := json.Unmarshal([]byte(e.ok(args...)), &d); err != nil {
		e.t.Fatal(err)
	}
	return d.ID
}

// awaitDeployment waits until the device reports a final state for it.
func (e *env) awaitDeployment(device, id string) deviceStatus {
	e.t.Helper()
	var st deviceStatus
	e.waitFor("device "+device+" to finish deployment "+id, 60*time.Second, func() bool {
		st = e.status(device)
		return st.Deployment == id && (st.State == vise.DeviceRunning || st.State == vise.DeviceFailed)
	})
	return st
}

// component creates a component whose one artifact is script; lifecycle is
// the body of its lifecycle block (YAML lines, indented two spaces).
func (e *env) component(name, version, script, lifecycle string, extra ...string) {
	e.t.Helper()
	dir := filepath.Join(e.workdir, name+"-"+version)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte(script), 0o755)
	recipe := "name: " + name + "\nversion: " + version + "\nartifacts:\n  - {name: run.sh, file: run.sh, executable: true}\n" + strings.Join(extra, "")
	if lifecycle != "" {
		recipe += "lifecycle:\n" + lifecycle
	}
	path := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(path, []byte(recipe), 0o644)
	e.ok("component", "create", "-f", path)
}

func TestAgentDeploys(t *testing.T) {
	e := startServer(t)
	model, _ := filepath.Abs("../../samples/models/sample-tiny.onnx")
	modelInfo, _ := os.Stat(model)
	os.WriteFile(filepath.Join(e.workdir, "model.yaml"), []byte("name: vise.model.metal-tags\nversion: 1.0.0\nartifacts:\n  - {name: model.onnx, file: "+model+"}\n"), 0o644)
	e.ok("component", "create", "-f", filepath.Join(e.workdir, "model.yaml"))
	dep := "dependencies:\n  vise.model.metal-tags: {version: \"^1\"}\n"
	run := "  run: {script: \"exec ./artifacts/run.sh\"}\n"
	e.component("vise.inspect", "1.0.0", "#!/bin/sh\ntest -f \"$VISE_DEP_VISE_MODEL_METAL_TAGS_ARTIFACTS/model.onnx\" || exit 3\nexec sleep 600\n", run, dep)

	agent := e.startAgent("cam-1", "")
	first := e.deployTo("cam-1", "vise.inspect")
	st := e.awaitDeployment("cam-1", first)
	if st.State != vise.DeviceRunning || st.Components["vise.inspect"] != "RUNNING" {
		t.Fatalf("first deployment: %+v", st)
	}
	if st.Telemetry.DownloadedBytes < modelInfo.Size() {
		t.Errorf("downloaded %d bytes, less than the %d-byte model", st.Telemetry.DownloadedBytes, modelInfo.Size())
	}
	var d vise.Deployment
	json.Unmarshal([]byte(e.ok("deployment", "show", first, "-o", "json")), &d)
	if d.Status != vise.DeploymentSucceeded {
		t.Errorf("deployment status = %s, want SUCCEEDED", d.Status)
	}

	// Code-only update: a new inference version moves zero model bytes.
	before := st.Telemetry.DownloadedBytes
	code := "#!/bin/sh\n# v1.1\nexec sleep 600\n"
	e.component("vise.inspect", "1.1.0", code, run, dep)
	second := e.deployTo("cam-1", "vise.inspect")
	st = e.awaitDeployment("cam-1", second)
	if st.State != vise.DeviceRunning {
		t.Fatalf("code-only deployment: %+v", st)
	}
	if got := st.Telemetry.DownloadedBytes - before; got != int64(len(code)) {
		t.Errorf("code-only redeploy transferred %d bytes, want exactly the %d bytes of new code (0 model bytes)", got, len(code))
	}

	// A run step that exits at once: the deployment fails and the previous
	// generation keeps running.
	e.component("vise.inspect", "1.2.0", "#!/bin/sh\nexit 1\n", run, dep)
	bad := e.deployTo("cam-1", "vise.inspect@1.2.0")
	st = e.awaitDeployment("cam-1", bad)
	if st.State != vise.DeviceFailed || !strings.Contains(st.Message, "did not become healthy") || !strings.Contains(st.Message, "rolled back") {
		t.Errorf("crashing component: state %s, message %q", st.State, st.Message)
	}
	if st.Generation != 2 || st.Components["vise.inspect"] != "RUNNING" {
		t.Errorf("after rollback: generation %d, components %v; want generation 2 running", st.Generation, st.Components)
	}

	// A failing install step: nothing on the device changes.
	e.component("vise.inspect", "1.3.0", "#!/bin/sh\nexec sleep 600\n", run+"  install: {script: \"echo disk says no >&2; exit 7\"}\n", dep)
	badInstall := e.deployTo("cam-1", "vise.inspect@1.3.0")
	st = e.awaitDeployment("cam-1", badInstall)
	if st.State != vise.DeviceFailed || !strings.Contains(st.Message, "install step") || !strings.Contains(st.Message, "disk says no") {
		t.Errorf("failing install: state %s, message %q", st.State, st.Message)
	}
	if st.Generation != 2 {
		t.Errorf("a failed install changed the generation to %d", st.Generation)
	}

	// A tampered artifact on the server (same size, other bytes) is refused
	// before use; the device keeps running what it ran.
	evil := "#!/bin/sh\nexec sleep 601\n"
	e.component("vise.inspect", "1.4.0", evil, run, dep)
	blobs, _ := filepath.Glob(filepath.Join(e.serverDir, "blobs", "sha256", "*", "*"))
	tampered := 0
	for _, b := range blobs {
		if data, _ := os.ReadFile(b); string(data) == evil {
			os.WriteFile(b, []byte(strings.Replace(evil, "601", "666", 1)), 0o600)
			tampered++
		}
	}
	if tampered != 1 {
		t.Fatalf("found %d blobs to tamper with, want 1", tampered)
	}
	tamperedID := e.deployTo("cam-1", "vise.inspect@1.4.0")
	st = e.awaitDeployment("cam-1", tamperedID)
	if st.State != vise.DeviceFailed || !strings.Contains(st.Message, "failed verification") {
		t.Errorf("tampered artifact: state %s, message %q", st.State, st.Message)
	}
	if st.Generation != 2 || st.Components["vise.inspect"] != "RUNNING" {
		t.Errorf("after a tampered artifact: generation %d, components %v", st.Generation, st.Components)
	}
	cached, _ := filepath.Glob(filepath.Join(agent.data, "artifacts", "sha256", "*"))
	for _, c := range cached {
		if data, _ := os.ReadFile(c); strings.Contains(string(data), "666") {
			t.Error("the tampered artifact entered the device's cache")
		}
	}
}

func deviceSeen(e *env, name string) bool {
	out, _, code := e.vise("device", "show", name, "-o", "json")
	return code == 0 && strings.Contains(out, "last_seen_at")
}
