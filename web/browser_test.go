package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/httpapi"
	"github.com/vise-edge/vise/server"
)

// The dashboard in a real browser: Debian's headless Chromium, driven over
// the DevTools protocol. Screenshots go to VISE_ARTIFACTS (default: a temp dir).

const chromium = "/usr/bin/chromium"

func startServer(t *testing.T) (*server.Server, *client.Client) {
	t.Helper()
	s, err := server.New(context.Background(), server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, client.New(s.URL(), s.AdminToken())
}

// browser is one Chromium page under DevTools control.
type browser struct {
	t    *testing.T
	conn *websocket.Conn
	id   int
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("VISE_REQUIRE_BROWSER") != "" {
			t.Fatalf("VISE_REQUIRE_BROWSER is set but %s is missing", chromium)
		}
		t.Skipf("Chromium is not installed (%s); make test installs Debian's chromium", chromium)
	}
	profile, err := os.MkdirTemp("", "vise-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir="+profile, "--remote-debugging-port=0", "--window-size=1280,900", "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its renderers and helpers too
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		// Helpers killed with the group may still be going away; their
		// profile files go with the last of them.
		deadline := time.Now().Add(10 * time.Second)
		for os.RemoveAll(profile) != nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	})
	ws := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ws <- m[1]
			}
		}
	}()
	var browserURL string
	select {
	case browserURL = <-ws:
	case <-time.After(30 * time.Second):
		t.Fatal("Chromium did not start its DevTools endpoint")
	}
	// Find the page target and attach to it.
	host := strings.SplitN(strings.TrimPrefix(browserURL, "ws://"), "/", 2)[0]
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	var targets []struct{ Type, WebSocketDebuggerURL string }
	json.NewDecoder(resp.Body).Decode(&targets)
	resp.Body.Close()
	for _, tg := range targets {
		if tg.Type == "page" {
			conn, _, err := websocket.DefaultDialer.Dial(tg.WebSocketDebuggerURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			return &browser{t: t, conn: conn}
		}
	}
	t.Fatal("no page target in Chromium")
	return nil
}

// call sends a DevTools command and returns its result.
func (b *browser) call(method string, params map[string]any) json.RawMessage {
	b.t.Helper()
	b.id++
	if err := b.conn.WriteJSON(map[string]any{"id": b.id, "method": method, "params": params}); err != nil {
		b.t.Fatal(err)
	}
	b.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct{ Message string }
		}
		if err := b.conn.ReadJSON(&msg); err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		if msg.ID == b.id {
			if msg.Error != nil {
				b.t.Fatalf("%s: %s", method, msg.Error.Message)
			}
			return msg.Result
		}
	}
}

// eval runs JavaScript in the page (awaiting promises) and returns its value.
func (b *browser) eval(js string) any {
	b.t.Helper()
	var r struct {
		Result struct{ Value any } `json:"result"`
	}
	json.Unmarshal(b.call("Runtime.evaluate", map[string]any{"expression": js, "awaitPromise": true, "returnByValue": true}), &r)
	return r.Result.Value
}

// waitFor polls a JavaScript condition.
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for b.eval(js) != true {
		if time.Now().After(deadline) {
			b.screenshot("timeout-" + strings.ReplaceAll(what, " ", "-"))
			b.t.Fatalf("timed out waiting for %s; page text: %v", what, b.eval("document.body ? document.body.innerText : ''"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) open(url string) {
	b.t.Helper()
	b.call("Page.navigate", map[string]any{"url": url})
	b.waitFor("page load "+url, `document.readyState === "complete" && location.href !== "about:blank"`)
}

func (b *browser) screenshot(name string) {
	var r struct{ Data string }
	json.Unmarshal(b.call("Page.captureScreenshot", map[string]any{"format": "png"}), &r)
	png, _ := base64.StdEncoding.DecodeString(r.Data)
	dir := os.Getenv("VISE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "vise-screenshots")
	}
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil || len(png) < 1000 {
		b.t.Errorf("screenshot %s: %d bytes, %v", path, len(png), err)
	}
	b.t.Logf("screenshot: %s", path)
}

func (b *browser) login(base, token string) {
	b.t.Helper()
	b.open(base + "/login")
	b.eval(fmt.Sprintf(`document.getElementById("token").value = %q; setTimeout(() => document.getElementById("login").click(), 0); true`, token))
}

func TestDashboardInBrowser(t *testing.T) {
	s, c := startServer(t)
	ctx := context.Background()
	if _, err := c.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "line-3-cam-1", Groups: []string{"line-3"}}); err != nil {
		t.Fatal(err)
	}
	art, err := c.UploadFile(ctx, "../samples/models/metal-tags.onnx", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterModel(ctx, "metal-tags", vise.RegisterModelRequest{SHA256: art.SHA256, Metrics: map[string]float64{"map50": 0.86}}); err != nil {
		t.Fatal(err)
	}
	// Approving sends the model to line-3 by edge-deploy.
	if _, err := c.SetModelTargets(ctx, "metal-tags", []vise.ModelTarget{{Target: "group:line-3", Pipeline: "edge-deploy"}}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	base := s.URL()

	// A wrong token is refused with a message.
	b.login(base, "vise_wrong")
	b.waitFor("the wrong-token message", `document.readyState === "complete" && document.body.innerText.includes("Wrong token")`)

	// The admin logs in and sees the fleet, updating live.
	b.login(base, c.Token)
	b.waitFor("the fleet page", `location.pathname === "/fleet" && document.getElementById("devices").innerText.includes("line-3-cam-1")`)
	b.screenshot("fleet")

	// Approving from the models page.
	b.open(base + "/models")
	b.waitFor("the approve button and the model's target", `!!document.querySelector('button[name="approve"]') && document.querySelector("p.targets").innerText.includes("group:line-3 by edge-deploy")`)
	b.screenshot("models")
	b.eval(`setTimeout(() => document.querySelector('button[name="approve"]').click(), 0); true`)
	b.waitFor("the approval", `document.body.innerText.includes("metal-tags version 1 is Approved")`)
	mv, err := c.ModelVersion(ctx, "metal-tags", 1)
	if err != nil || mv.Approval.Status != vise.Approved || mv.Approval.By != "admin" {
		t.Errorf("after approving in the browser: %+v, %v", mv.Approval, err)
	}

	// The approval started edge-deploy; its step history shows live, down
	// to the canary that could not deploy (there is no inference component).
	b.open(base + "/pipelines")
	b.waitFor("the execution's failed canary", `document.body.innerText.includes("edge-deploy v1") && document.body.innerText.includes("inference component: component vise.inspect not found") && document.querySelector("section.execution .state.FAILED") !== null`)
	b.screenshot("pipelines")

	// An admin cancels a running execution from the page.
	if _, _, err := c.ApplyPipeline(ctx, []byte("name: soak\nsteps:\n  - {name: soak, action: wait, with: {duration: 1h}, timeout: 2h}\n")); err != nil {
		t.Fatal(err)
	}
	x, err := c.RunPipeline(ctx, "soak", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.open(base + "/pipelines")
	b.waitFor("the cancel button", `!!document.querySelector('button[name="cancel"]')`)
	b.eval(`setTimeout(() => document.querySelector('button[name="cancel"]').click(), 0); true`)
	b.waitFor("the cancellation", `document.body.innerText.includes("execution `+x.ID+` canceled")`)
	if got, _ := c.Execution(ctx, x.ID); got.Status != vise.ExecutionCanceled || got.Error != "canceled by admin" {
		t.Errorf("after cancelling in the browser: %s %q", got.Status, got.Error)
	}

	// A forged form (no valid CSRF token) is refused even with the cookie.
	status := b.eval(`fetch("/models/metal-tags/versions/1/reject", {method: "POST", body: new URLSearchParams({csrf: "forged"})}).then(r => r.status)`)
	if status != float64(http.StatusForbidden) {
		t.Errorf("forged form post: status %v, want 403", status)
	}
	if mv, _ := c.ModelVersion(ctx, "metal-tags", 1); mv.Approval.Status != vise.Approved {
		t.Error("a forged form changed the model's status")
	}

	// A viewer sees models but no buttons, and cannot post decisions.
	if _, err := s.Store.CreateToken(ctx, "quality-engineer", httpapi.RoleViewer, httpapi.HashToken("vise_viewer_token")); err != nil {
		t.Fatal(err)
	}
	b.open(base + "/logout")
	b.login(base, "vise_viewer_token")
	b.waitFor("the viewer's fleet page", `location.pathname === "/fleet"`)
	b.open(base + "/models")
	b.waitFor("the models page", `document.body.innerText.includes("metal-tags")`)
	if b.eval(`!!document.querySelector('button[name="reject"]')`) != false {
		t.Error("a viewer sees the reject button")
	}
	b.open(base + "/inspection")
	b.waitFor("the inspection page with its chart", `!!document.querySelector("#chart canvas") || !!document.querySelector(".uplot")`)
	b.screenshot("inspection")
}

// A person with a user name and password logs in through the form in a
// real browser, sees their name in the header, and a wrong password gets
// the generic message.
func TestUserLoginInBrowser(t *testing.T) {
	s, c := startServer(t)
	if _, err := c.CreateUser(context.Background(), vise.CreateUserRequest{Name: "line-lead", Role: "admin", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	fill := func(name, password string) {
		b.open(s.URL() + "/login")
		b.eval(fmt.Sprintf(`document.getElementById("user").value = %q; document.getElementById("password").value = %q;
			setTimeout(() => document.getElementById("login").click(), 0); true`, name, password))
	}
	fill("line-lead", "wrong horse battery")
	b.waitFor("the generic failure message", `document.readyState === "complete" && document.body.innerText.includes("Wrong user name or password.")`)
	if b.eval(`document.getElementById("user").value`) != "line-lead" || b.eval(`document.getElementById("password").value`) != "" {
		t.Error("after a failure the form should keep the name and clear the password")
	}
	b.screenshot("login-failed")
	fill("line-lead", "correct horse battery")
	b.waitFor("the fleet page with the user's name in the header",
		`location.pathname === "/fleet" && document.querySelector("header .who").innerText.includes("line-lead (admin)")`)
	b.screenshot("fleet-as-user")
}
