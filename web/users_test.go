package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

// A person's session over plain HTTP: a cookie jar, redirects followed.
type person struct {
	t    *testing.T
	base string
	http *http.Client
}

func newPerson(t *testing.T, base string) *person {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &person{t: t, base: base, http: &http.Client{Jar: jar}}
}

// do sends a request and returns the final status and body.
func (p *person) do(method, path string, form url.Values) (int, string) {
	p.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = p.http.PostForm(p.base+path, form)
	} else {
		resp, err = p.http.Get(p.base + path)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *person) login(name, password string) (int, string) {
	p.t.Helper()
	return p.do(http.MethodPost, "/login", url.Values{"user": {name}, "password": {password}, "next": {"/models"}})
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// approve posts the approve form with the CSRF token of the models page.
func (p *person) approve(model string) (int, string) {
	p.t.Helper()
	status, page := p.do(http.MethodGet, "/models", nil)
	m := csrfMeta.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		p.t.Fatalf("models page: %d, CSRF token found: %v", status, m != nil)
	}
	return p.do(http.MethodPost, "/models/"+model+"/versions/1/approve", url.Values{"csrf": {m[1]}})
}

func withModel(t *testing.T) (*server.Server, *client.Client) {
	t.Helper()
	s, c := startServer(t)
	ctx := context.Background()
	art, err := c.UploadFile(ctx, "../samples/models/sample-tiny.onnx", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterModel(ctx, "metal-tags", vise.RegisterModelRequest{SHA256: art.SHA256}); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func addUser(t *testing.T, c *client.Client, name, role, password string) {
	t.Helper()
	if _, err := c.CreateUser(context.Background(), vise.CreateUserRequest{Name: name, Role: role, Password: password}); err != nil {
		t.Fatal(err)
	}
}

func metric(t *testing.T, base, series string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "absent"
}

func TestLoginWrongPassword(t *testing.T) {
	s, c := startServer(t)
	addUser(t, c, "alice", "admin", "correct horse battery")
	p := newPerson(t, s.URL())
	wrongStatus, wrong := p.login("alice", "correct horse batterY")
	unknownStatus, unknown := p.login("mallory", "correct horse battery")
	for _, got := range []struct {
		status int
		body   string
	}{{wrongStatus, wrong}, {unknownStatus, unknown}} {
		if got.status != http.StatusUnauthorized || !strings.Contains(got.body, "Wrong user name or password.") {
			t.Errorf("failed login: %d, page without the generic message:\n%s", got.status, got.body)
		}
	}
	if strings.Replace(wrong, `value="alice"`, `value="mallory"`, 1) != unknown {
		t.Error("the pages for a wrong password and an unknown user differ beyond the name typed")
	}
	if got := metric(t, s.URL(), `vise_login_failures_total{reason="bad_credentials"}`); got != "2" {
		t.Errorf("vise_login_failures_total{reason=\"bad_credentials\"} = %s, want 2", got)
	}
	if status, page := p.do(http.MethodGet, "/fleet", nil); status != http.StatusOK || !strings.Contains(page, `id="password"`) {
		t.Errorf("after failed logins /fleet gives %d and not the login form", status)
	}
	if status, _ := p.do(http.MethodPost, "/login", url.Values{"next": {"/fleet"}}); status != http.StatusBadRequest {
		t.Errorf("empty login form: %d, want 400", status)
	}
}

func TestViewerAndAdminUsers(t *testing.T) {
	s, c := withModel(t)
	addUser(t, c, "quality-engineer", "viewer", "viewer password")
	addUser(t, c, "line-lead", "admin", "admin password")

	viewer := newPerson(t, s.URL())
	if status, page := viewer.login("quality-engineer", "viewer password"); status != http.StatusOK ||
		!strings.Contains(page, "quality-engineer (viewer)") || !strings.Contains(page, "metal-tags") {
		t.Fatalf("viewer login: %d; the models page lacks the header name or the model:\n%s", status, page)
	}
	for _, path := range []string{"/fleet", "/deployments", "/inspection"} {
		if status, page := viewer.do(http.MethodGet, path, nil); status != http.StatusOK || !strings.Contains(page, "quality-engineer") {
			t.Errorf("viewer GET %s: %d", path, status)
		}
	}
	if status, body := viewer.approve("metal-tags"); status != http.StatusForbidden || !strings.Contains(body, "needs an admin") {
		t.Errorf("viewer approving: %d %q, want 403", status, body)
	}
	if mv, _ := c.ModelVersion(context.Background(), "metal-tags", 1); mv.Approval.Status != vise.PendingManualApproval {
		t.Fatalf("a viewer changed the model: %+v", mv.Approval)
	}

	admin := newPerson(t, s.URL())
	if status, page := admin.login("line-lead", "admin password"); status != http.StatusOK || !strings.Contains(page, "line-lead (admin)") {
		t.Fatalf("admin login: %d", status)
	}
	if status, page := admin.approve("metal-tags"); status != http.StatusOK || !strings.Contains(page, "metal-tags version 1 is Approved") {
		t.Errorf("admin approving: %d", status)
	}
	mv, err := c.ModelVersion(context.Background(), "metal-tags", 1)
	if err != nil || mv.Approval.Status != vise.Approved || mv.Approval.By != "line-lead" {
		t.Errorf("after the admin approved: %+v, %v", mv.Approval, err)
	}
}

// A password change or removal ends the user's sessions at once.
func TestUserSessionsEnd(t *testing.T) {
	s, c := startServer(t)
	ctx := context.Background()
	addUser(t, c, "alice", "viewer", "first password")
	addUser(t, c, "bob", "viewer", "bobs password")
	alice, bob := newPerson(t, s.URL()), newPerson(t, s.URL())
	alice.login("alice", "first password")
	bob.login("bob", "bobs password")
	loggedIn := func(p *person) bool {
		_, page := p.do(http.MethodGet, "/fleet", nil)
		return strings.Contains(page, `href="/logout"`)
	}
	if !loggedIn(alice) || !loggedIn(bob) {
		t.Fatal("not logged in")
	}
	if err := c.SetUserPassword(ctx, "alice", "second password"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if loggedIn(alice) {
		t.Error("alice's session outlived her password change")
	}
	if loggedIn(bob) {
		t.Error("bob's session outlived his removal")
	}
	if alice.login("alice", "second password"); !loggedIn(alice) {
		t.Error("alice cannot log in with the new password")
	}
}
