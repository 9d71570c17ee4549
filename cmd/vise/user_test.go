package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

// viseIn runs the CLI with stdin (a pipe, as from a script or a secret file).
func (e *env) viseIn(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	cmd := exec.Command(viseBin, args...)
	cmd.Dir = e.workdir
	cmd.Env = append(os.Environ(), "VISE_SERVER="+e.server, "VISE_DATA="+e.data, "VISE_TOKEN=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func (e *env) wantIn(code int, contains, stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, got := e.viseIn(stdin, args...)
	if got != code || !strings.Contains(out+errOut, contains) {
		e.t.Errorf("vise %s: exit %d, want %d; output %q lacks %q", strings.Join(args, " "), got, code, out+errOut, contains)
	}
	return out
}

// dashboardLogin posts the dashboard's login form and, if it succeeds,
// fetches the fleet page with the session cookie.
func dashboardLogin(t *testing.T, server, name, password string) (status int, page string) {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(server+"/login", url.Values{"user": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode, string(body)
	}
	req, _ := http.NewRequest(http.MethodGet, server+"/fleet", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestCLIUsers(t *testing.T) {
	e := startServer(t)
	e.wantIn(0, "added user alice (admin)", "correct horse battery\n", "user", "add", "alice", "--role", "admin", "--password-stdin")
	e.wantIn(0, "added user bob (viewer)", "bobs own password", "user", "add", "bob") // piped without the flag; viewer by default

	status, page := dashboardLogin(t, e.server, "alice", "correct horse battery")
	if status != http.StatusOK || !strings.Contains(page, "alice (admin)") {
		t.Fatalf("login as the user the CLI added: %d\n%s", status, page)
	}
	if status, page := dashboardLogin(t, e.server, "alice", "wrong horse battery"); status != http.StatusUnauthorized || !strings.Contains(page, "Wrong user name or password.") {
		t.Errorf("wrong password: %d", status)
	}

	e.wantIn(4, "user alice already exists", "another password\n", "user", "add", "alice", "--role", "viewer")
	e.wantIn(2, "password too short (5 characters): use at least 10", "short\n", "user", "add", "carol")
	e.wantIn(2, "no password on stdin", "", "user", "add", "carol", "--password-stdin")
	e.wantIn(2, `--role "owner": use viewer`, "long enough pw\n", "user", "add", "carol", "--role", "owner")
	e.wantIn(2, "invalid user name", "long enough pw\n", "user", "add", "Carol")
	e.wantIn(3, "user nobody not found", "", "user", "remove", "nobody")
	e.wantIn(3, "user nobody not found", "long enough pw\n", "user", "passwd", "nobody")

	var us []vise.User
	if err := json.Unmarshal([]byte(e.ok("user", "list", "-o", "json")), &us); err != nil || len(us) != 2 ||
		us[0].Name != "alice" || us[0].Role != "admin" || us[0].CreatedBy != "admin" || us[1].Name != "bob" {
		t.Errorf("user list -o json = %+v, %v", us, err)
	}
	if strings.Contains(e.ok("user", "list", "-o", "json"), "argon2") {
		t.Error("user list shows password hashes")
	}

	e.wantIn(0, "changed the password of alice", "a brand new password\n", "user", "passwd", "alice", "--password-stdin")
	if status, _ := dashboardLogin(t, e.server, "alice", "correct horse battery"); status != http.StatusUnauthorized {
		t.Errorf("old password after passwd: %d, want 401", status)
	}
	if status, _ := dashboardLogin(t, e.server, "alice", "a brand new password"); status != http.StatusOK {
		t.Errorf("new password after passwd: %d, want 200", status)
	}

	e.wantIn(0, "removed user bob", "", "user", "remove", "bob")
	if status, _ := dashboardLogin(t, e.server, "bob", "bobs own password"); status != http.StatusUnauthorized {
		t.Errorf("removed user logs in: %d", status)
	}
	if out := e.ok("user", "list"); strings.Contains(out, "bob") || !strings.Contains(out, "alice") {
		t.Errorf("user list after removal:\n%s", out)
	}
}
