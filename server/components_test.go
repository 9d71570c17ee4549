package server_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/store"
)

func uploadBytes(t *testing.T, c *client.Client, data string) vise.Artifact {
	t.Helper()
	path := filepath.Join(t.TempDir(), "artifact")
	if err := writeFile(path, data); err != nil {
		t.Fatal(err)
	}
	a, err := c.UploadFile(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func recipe(name, version string, a vise.Artifact, deps map[string]vise.Dependency) *vise.Recipe {
	return &vise.Recipe{Name: name, Version: version, Dependencies: deps,
		Artifacts: []vise.RecipeArtifact{{Name: "bin/run", SHA256: a.SHA256, Size: a.Size, Executable: true}},
		Lifecycle: vise.Lifecycle{Run: &vise.Step{Script: "exec ./bin/run", Timeout: vise.Duration(time.Minute)}}}
}

func TestComponents(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		a := uploadBytes(t, c, "#!/bin/sh\necho infer\n")
		model := uploadBytes(t, c, "model bytes")
		if _, created, err := c.CreateComponent(ctx, recipe("vise.model.metal-tags", "1.0.0", model, nil)); err != nil || !created {
			t.Fatalf("create model component: created=%v err=%v", created, err)
		}
		infer := recipe("vise.inspect", "1.0.0", a, map[string]vise.Dependency{"vise.model.metal-tags": {Version: "^1.0.0"}})
		cv, created, err := c.CreateComponent(ctx, infer)
		if err != nil || !created {
			t.Fatalf("create: created=%v err=%v", created, err)
		}
		// The same version again with the same content is fine and changes nothing.
		if _, created, err := c.CreateComponent(ctx, infer); err != nil || created {
			t.Errorf("re-create identical: created=%v err=%v", created, err)
		}
		// Different content under the same version is refused; the stored one stays.
		changed := *infer
		changed.Description = "sneaky"
		_, _, err = c.CreateComponent(ctx, &changed)
		wantCode(t, err, vise.CodeConflict, "immutable")
		got, err := c.ComponentVersion(ctx, "vise.inspect", "1.0.0")
		if err != nil || got.Digest != cv.Digest {
			t.Errorf("stored version changed: %v %v", got, err)
		}
		// The recipe and its artifact are signed targets.
		targets := releaseTargets(t, s, c.Token)
		for _, path := range []string{"components/vise.inspect/1.0.0/recipe.json", "artifacts/" + a.SHA256} {
			if _, ok := targets[path]; !ok {
				t.Errorf("release metadata lacks target %s", path)
			}
		}
	})
}

func TestBadRecipes(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		a := uploadBytes(t, c, "x")
		_, _, err := c.CreateComponent(ctx, recipe("a", "1.0.0", vise.Artifact{SHA256: strings.Repeat("1", 64), Size: 3}, nil))
		wantCode(t, err, vise.CodeInvalid, "not uploaded")

		_, _, err = c.CreateComponent(ctx, recipe("a", "1.0.0", a, map[string]vise.Dependency{"b": {Version: ">>1"}}))
		wantCode(t, err, vise.CodeInvalid, "invalid semver range")

		// a -> b -> a: the second one closes a cycle and is refused.
		if _, _, err := c.CreateComponent(ctx, recipe("a", "1.0.0", a, map[string]vise.Dependency{"b": {Version: "^1"}})); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.CreateComponent(ctx, recipe("b", "1.0.0", a, map[string]vise.Dependency{"a": {Version: "^1"}}))
		wantCode(t, err, vise.CodeInvalid, "dependency cycle")
		if _, err := c.ComponentVersions(ctx, "b"); vise.ErrorCode(err) != vise.CodeNotFound {
			t.Errorf("the cyclic component was stored: %v", err)
		}

		// Unknown fields are refused by the server too, not just the CLI.
		resp := rawJSON(t, s, c.Token, http.MethodPost, "/v1/components", `{"name":"x","version":"1.0.0","lifecyle":{}}`)
		if resp.Error.Code != vise.CodeInvalid || !strings.Contains(resp.Error.Message, "lifecyle") {
			t.Errorf("unknown field: %+v", resp.Error)
		}
		_, err = c.ComponentVersion(ctx, "nope", "1.0.0")
		wantCode(t, err, vise.CodeNotFound, "nope not found")
	})
}

func TestDevicesAndDeployments(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		a := uploadBytes(t, c, "code")
		m := uploadBytes(t, c, "model")
		c.CreateComponent(ctx, recipe("vise.model.metal-tags", "1.0.0", m, nil))
		c.CreateComponent(ctx, recipe("vise.model.metal-tags", "1.1.0", m, nil))
		c.CreateComponent(ctx, recipe("vise.inspect", "2.0.0", a, map[string]vise.Dependency{"vise.model.metal-tags": {Version: "~1.0"}}))
		if _, err := c.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-3"}); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"cam-1", "cam-2"} {
			if _, err := c.CreateDevice(ctx, vise.CreateDeviceRequest{Name: d, Groups: []string{"line-3"}}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-9", Groups: []string{"nope"}})
		wantCode(t, err, vise.CodeNotFound, "group nope not found")

		d, err := c.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: "group", Name: "line-3"},
			Components:    []vise.ComponentRef{{Name: "vise.inspect"}},
			Configuration: map[string]map[string]any{"vise.inspect": {"confidence": 0.4}}})
		if err != nil {
			t.Fatal(err)
		}
		want := "vise.model.metal-tags@1.0.0 vise.inspect@2.0.0" // ~1.0 keeps 1.1.0 out; dependency first
		if got := refs(d.Components); got != want {
			t.Errorf("resolved components = %s, want %s", got, want)
		}
		if len(d.Devices) != 2 || d.Devices[0].State != vise.DevicePending {
			t.Errorf("devices = %+v", d.Devices)
		}
		if _, ok := releaseTargets(t, s, c.Token)["deployments/"+d.ID+".json"]; !ok {
			t.Error("deployment document is not a signed target")
		}
		_, err = c.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: "device", Name: "cam-1"},
			Components: []vise.ComponentRef{{Name: "vise.inspect", Version: "9.0.0"}}})
		wantCode(t, err, vise.CodeNotFound, "available: 2.0.0")
		_, err = c.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: "device", Name: "ghost"},
			Components: []vise.ComponentRef{{Name: "vise.inspect"}}})
		wantCode(t, err, vise.CodeNotFound, "device ghost not found")
		ds, err := c.Deployments(ctx, "group:line-3", 0)
		if err != nil || len(ds) != 1 {
			t.Errorf("deployments for group:line-3 = %d, %v", len(ds), err)
		}
		// The old spelling still answers, with a deprecation warning.
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/deployments?target=group/line-3", nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&ds)
		resp.Body.Close()
		if warn := resp.Header.Get("Warning"); len(ds) != 1 || !strings.Contains(warn, "write group:line-3") {
			t.Errorf("deployments for group/line-3: %d, Warning %q; want 1 and a deprecation naming group:line-3", len(ds), warn)
		}
		resp2 := rawJSON(t, s, c.Token, http.MethodGet, "/v1/deployments?target=rack:line-3", "")
		if resp2.Error.Code != vise.CodeInvalid || !strings.Contains(resp2.Error.Message, "write group:NAME or device:NAME") {
			t.Errorf("deployments for rack:line-3: %+v; want invalid", resp2.Error)
		}
	})
}

func TestAuth(t *testing.T) {
	s, c := start(t, store.SQLite)
	anon := client.New(s.URL(), "")
	_, err := anon.Models(ctx)
	wantCode(t, err, vise.CodeUnauthorized, "missing API token")
	_, err = client.New(s.URL(), "vise_wrong").Models(ctx)
	wantCode(t, err, vise.CodeUnauthorized, "unknown API token")
	if _, err := s.Store.CreateToken(ctx, "viewer", "viewer", hashToken("vise_viewer")); err != nil {
		t.Fatal(err)
	}
	viewer := client.New(s.URL(), "vise_viewer")
	if _, err := viewer.Models(ctx); err != nil {
		t.Errorf("viewer cannot read: %v", err)
	}
	_, err = viewer.CreateGroup(ctx, vise.CreateGroupRequest{Name: "g"})
	wantCode(t, err, vise.CodeForbidden, "admin token")
	if gs, _ := c.Groups(ctx); len(gs) != 0 {
		t.Error("a forbidden request changed state")
	}
}

// A SQLite database locked by another process makes writes fail with 503
// and a message that says so; nothing is half-written.
func TestLockedDatabase(t *testing.T) {
	s, c := start(t, store.SQLite)
	db, err := sql.Open("sqlite", filepath.Join(s.DataDir(), "vise.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-1"})
	wantCode(t, err, vise.CodeUnavailable, "locked")
	conn.ExecContext(ctx, "ROLLBACK")
	conn.Close()
	if gs, err := c.Groups(ctx); err != nil || len(gs) != 0 {
		t.Errorf("after the lock: groups = %v, %v", gs, err)
	}
	if _, err := c.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-1"}); err != nil {
		t.Errorf("the server did not recover after the lock was released: %v", err)
	}
}

func refs(cs []vise.ComponentRef) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, " ")
}

// releaseTargets reads the whole repository's targets.json from the API,
// with token; without one it is refused, since it names every deployment.
func releaseTargets(t *testing.T, s *server.Server, token string) map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Get(s.URL() + "/v1/release/targets.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("targets.json without a token: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/release/targets.json", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Signed struct {
			Targets map[string]json.RawMessage `json:"targets"`
		} `json:"signed"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatalf("targets.json: %v", err)
	}
	return md.Signed.Targets
}
