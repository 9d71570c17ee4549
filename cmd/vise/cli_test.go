package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store/pgtest"
)

// These tests run the real binary against a real server process, the way
// people and scripts use them.

var viseBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vise-cli-")
	if err != nil {
		panic(err)
	}
	viseBin = filepath.Join(dir, "vise")
	build := exec.Command("go", "build", "-o", viseBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	t         testing.TB
	data      string
	server    string
	deviceURL string
	serverDir string // the server's blob store etc.
	workdir   string
}

// startServer runs `vise server` on a free port and waits until it listens.
func startServer(t testing.TB) *env {
	t.Helper()
	e, _ := startServerOn(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
	return e
}

// startServerOn runs `vise server` on data with the given listen addresses;
// the returned command lets a test stop it early (cleanup then skips it).
func startServerOn(t testing.TB, data, listen, deviceListen, mqttListen string, extra ...string) (*env, *exec.Cmd) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server process; skipped with -short")
	}
	cmd := exec.Command(viseBin, append([]string{"server", "--data", data, "--listen", listen,
		"--device-listen", deviceListen, "--mqtt-listen", mqttListen, "--log-format", "json"}, extra...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return // stopped by the test
		}
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server did not exit cleanly on SIGINT: %v", err)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Error("server did not stop within 15s of SIGINT")
		}
	})
	type listening struct {
		Msg       string
		URL       string `json:"url"`
		DeviceURL string `json:"device_url"`
	}
	urls := make(chan listening, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line listening
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "vise server listening" {
				urls <- line
			}
		}
	}()
	select {
	case u := <-urls:
		return &env{t: t, data: data, server: u.URL, deviceURL: u.DeviceURL, serverDir: data, workdir: t.TempDir()}, cmd
	case <-time.After(30 * time.Second):
		t.Fatal("server did not report its address within 30s")
	}
	return nil, nil
}

// vise runs the CLI and returns stdout, stderr and the exit code.
func (e *env) vise(args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(viseBin, args...)
	cmd.Dir = e.workdir
	cmd.Env = append(os.Environ(), "VISE_SERVER="+e.server, "VISE_DATA="+e.data, "VISE_TOKEN=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.vise(args...)
	if code != 0 {
		e.t.Fatalf("vise %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// fails checks the exit code and that stderr is one line naming the problem.
func (e *env) fails(code int, contains string, args ...string) {
	e.t.Helper()
	_, errOut, got := e.vise(args...)
	if got != code {
		e.t.Errorf("vise %s: exit %d, want %d (stderr %q)", strings.Join(args, " "), got, code, errOut)
	}
	if !strings.Contains(errOut, contains) {
		e.t.Errorf("vise %s: stderr %q does not contain %q", strings.Join(args, " "), errOut, contains)
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 {
		e.t.Errorf("vise %s: error spans %d lines, want one: %q", strings.Join(args, " "), n+1, errOut)
	}
}

func (e *env) write(name, content string) string {
	e.t.Helper()
	p := filepath.Join(e.workdir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestCLIModels(t *testing.T) {
	e := startServer(t)
	model, _ := filepath.Abs("../../samples/models/sample-tiny.onnx")
	out := e.ok("model", "register", "metal-tags", model, "--metric", "map50=0.62", "--training-run", "r1")
	if !strings.Contains(out, "registered metal-tags version 1 (PendingManualApproval)") {
		t.Errorf("register output: %q", out)
	}
	out = e.ok("model", "approve", "metal-tags", "1", "--reason", "line trial ok", "-o", "json")
	var mv vise.ModelVersion
	if err := json.Unmarshal([]byte(out), &mv); err != nil || mv.Approval.Status != vise.Approved || mv.Approval.Reason != "line trial ok" {
		t.Errorf("approve -o json: %v %+v", err, mv.Approval)
	}
	var groups []vise.ModelGroup
	if err := json.Unmarshal([]byte(e.ok("model", "list", "-o", "json")), &groups); err != nil || len(groups) != 1 || groups[0].LatestApproved != 1 {
		t.Errorf("model list -o json = %+v, %v", groups, err)
	}
	if out := e.ok("model", "show", "metal-tags", "1"); !strings.Contains(out, "images float32 [1,3,320,320]") || !strings.Contains(out, "map50=0.62") {
		t.Errorf("model show:\n%s", out)
	}

	e.fails(2, "not a usable ONNX model", "model", "register", "metal-tags", e.write("notes.txt", "hello, not a model"))
	e.fails(2, "cannot read", "model", "register", "metal-tags", filepath.Join(e.workdir, "missing.onnx"))
	e.fails(2, "must be a number", "model", "register", "metal-tags", model, "--metric", "map50=high")
	e.fails(3, "model nope not found", "model", "show", "nope")
	e.fails(3, "no version 9", "model", "approve", "metal-tags", "9")
	e.fails(2, "not a positive whole number", "model", "approve", "metal-tags", "one")
	e.fails(2, "takes a model name and an ONNX file", "model", "register", "metal-tags")
	e.fails(2, "unknown output format", "model", "list", "-o", "yaml")
	if out := e.ok("model", "show", "metal-tags"); strings.Count(out, "\n") != 2 {
		t.Errorf("failed registrations changed the model's versions:\n%s", out)
	}
}

func TestCLIComponentsAndDeploy(t *testing.T) {
	e := startServer(t)
	e.write("bin/infer.sh", "#!/bin/sh\necho hi\n")
	recipe := e.write("inspect.yaml", `name: vise.inspect
version: 1.0.0
artifacts:
  - name: bin/infer.sh
    file: bin/infer.sh
    executable: true
lifecycle:
  run: {script: "exec ./bin/infer.sh", timeout: 30s}
`)
	if out := e.ok("component", "create", "-f", recipe); !strings.Contains(out, "created vise.inspect@1.0.0") {
		t.Errorf("create: %q", out)
	}
	if out := e.ok("component", "create", "-f", recipe); !strings.Contains(out, "already exists with this content") {
		t.Errorf("re-create: %q", out)
	}
	e.write("bin/infer.sh", "#!/bin/sh\necho changed\n")
	e.fails(4, "versions are immutable", "component", "create", "-f", recipe)
	e.fails(2, "lifecyle", "component", "create", "-f", e.write("typo.yaml", "name: a\nversion: 1.0.0\nlifecyle: {}\n"))
	e.fails(2, "invalid semver range", "component", "create", "-f",
		e.write("range.yaml", "name: a\nversion: 1.0.0\ndependencies:\n  b: {version: \">>1\"}\n"))
	e.fails(2, "not a semantic version", "component", "create", "-f", e.write("ver.yaml", "name: a\nversion: one\n"))
	e.fails(3, "component nope not found", "component", "show", "nope")

	var cs []vise.ComponentSummary
	if err := json.Unmarshal([]byte(e.ok("component", "list", "-o", "json")), &cs); err != nil || len(cs) != 1 || cs[0].LatestVersion != "1.0.0" {
		t.Errorf("component list = %+v, %v", cs, err)
	}

	e.ok("group", "create", "line-3")
	e.ok("device", "add", "cam-1", "--group", "line-3", "--label", "site=a")
	e.fails(4, "already exists", "device", "add", "cam-1")
	e.fails(3, "group nope not found", "device", "add", "cam-2", "--group", "nope")
	if out := e.ok("device", "list"); !regexp.MustCompile(`cam-1\s+line-3\s+0\s+-\s+-\s+0\s+never\s+site=a`).MatchString(out) {
		t.Errorf("device list:\n%s", out)
	}
	out := e.ok("deploy", "--group", "line-3", "--component", "vise.inspect", "--config", "vise.inspect:confidence=0.4", "-o", "json")
	var d vise.Deployment
	if err := json.Unmarshal([]byte(out), &d); err != nil || len(d.Devices) != 1 || d.Configuration["vise.inspect"]["confidence"] != 0.4 {
		t.Fatalf("deploy -o json: %v %+v", err, d)
	}
	if out := e.ok("deployment", "show", d.ID); !strings.Contains(out, "cam-1") || !strings.Contains(out, "PENDING") {
		t.Errorf("deployment show:\n%s", out)
	}
	var ds []vise.Deployment
	if err := json.Unmarshal([]byte(e.ok("deployment", "list", "-o", "json")), &ds); err != nil || len(ds) != 1 {
		t.Errorf("deployment list = %d, %v", len(ds), err)
	}
	// One spelling of a target everywhere; the old one still works, with a warning.
	if out := e.ok("deployment", "list", "--target", "group:line-3"); !strings.Contains(out, "group:line-3") {
		t.Errorf("deployment list --target group:line-3:\n%s", out)
	}
	if out, stderr, code := e.vise("deployment", "list", "--target", "group/line-3", "-o", "json"); code != 0 ||
		json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || !strings.Contains(stderr, "write group:line-3") {
		t.Errorf("deployment list --target group/line-3: exit %d, %d deployments, stderr %q", code, len(ds), stderr)
	}
	e.fails(2, "write group:NAME or device:NAME", "deployment", "list", "--target", "line-3")
	e.fails(2, "exactly one of --device or --group", "deploy", "--component", "vise.inspect")
	e.fails(3, "no version of vise.inspect satisfies", "deploy", "--device", "cam-1", "--component", "vise.inspect@^2")
	e.fails(2, "configuration for other", "deploy", "--device", "cam-1", "--component", "vise.inspect", "--config", "other:k=v")
}

func TestCLIServerUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	e := &env{t: t, data: t.TempDir(), server: "http://127.0.0.1:1", workdir: t.TempDir()}
	e.fails(5, "cannot reach the Vise server", "model", "list")
}
