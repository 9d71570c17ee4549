package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func recipe(name, version string, a vise.Artifact) *vise.Recipe {
	return &vise.Recipe{Name: name, Version: version,
		Artifacts: []vise.RecipeArtifact{{Name: "bin/x", SHA256: a.SHA256, Size: a.Size}},
		Lifecycle: vise.Lifecycle{Run: &vise.Step{Script: "exec bin/x"}}}
}

func TestComponentVersions(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		a := putArtifact(t, s, 1)
		for _, v := range []string{"1.9.0", "1.10.0", "1.2.0"} {
			if _, created, err := s.CreateComponentVersion(ctx, recipe("infer", v, a), "alice"); err != nil || !created {
				t.Fatalf("create %s: created=%v err=%v", v, created, err)
			}
		}
		again, created, err := s.CreateComponentVersion(ctx, recipe("infer", "1.9.0", a), "bob")
		if err != nil || created || again.CreatedBy != "alice" {
			t.Errorf("identical re-create: created=%v by=%s err=%v", created, again.CreatedBy, err)
		}
		changed := recipe("infer", "1.9.0", a)
		changed.Description = "different"
		_, _, err = s.CreateComponentVersion(ctx, changed, "bob")
		wantCode(t, err, vise.CodeConflict)
		got, _ := s.GetComponentVersion(ctx, "infer", "1.9.0")
		if got.Recipe.Description != "" {
			t.Error("a refused re-create changed the stored recipe")
		}
		_, _, err = s.CreateComponentVersion(ctx, recipe("other", "1.0.0", vise.Artifact{SHA256: sha(99), Size: 1}), "bob")
		wantCode(t, err, vise.CodeInvalid)
		_, err = s.ListComponentVersions(ctx, "other")
		wantCode(t, err, vise.CodeNotFound)

		cvs, _ := s.ListComponentVersions(ctx, "infer")
		var order []string
		for _, cv := range cvs {
			order = append(order, cv.Recipe.Version)
		}
		if diff := cmp.Diff([]string{"1.10.0", "1.9.0", "1.2.0"}, order); diff != "" {
			t.Errorf("versions, highest semver first (-want +got):\n%s", diff)
		}
		sum, _ := s.ListComponents(ctx)
		if len(sum) != 1 || sum[0].LatestVersion != "1.10.0" || sum[0].VersionCount != 3 {
			t.Errorf("summary = %+v", sum)
		}
		_, err = s.GetComponentVersion(ctx, "infer", "9.9.9")
		wantCode(t, err, vise.CodeNotFound)
		_, err = s.GetComponentVersion(ctx, "nope", "1.0.0")
		wantCode(t, err, vise.CodeNotFound)
		rs, err := vise.Resolve([]vise.ComponentRef{{Name: "infer", Version: "^1.2"}}, s.Recipes(ctx), false)
		if err != nil || len(rs) != 1 || rs[0].Version != "1.10.0" {
			t.Errorf("resolve over the store: %v %v", rs, err)
		}
		evs, _ := s.Events(ctx, "", 100)
		if n := countType(evs, vise.EventComponentCreated); n != 3 {
			t.Errorf("%d component.created events, want 3 (one per new version)", n)
		}
	})
}

func countType(evs []vise.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestDevicesAndGroups(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		for _, g := range []string{"line-3", "a-site"} {
			if _, err := s.CreateGroup(ctx, vise.CreateGroupRequest{Name: g}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-3"})
		wantCode(t, err, vise.CodeConflict)
		if _, err := s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1", Labels: map[string]string{"site": "a"}, Groups: []string{"line-3"}}); err != nil {
			t.Fatal(err)
		}
		_, err = s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"})
		wantCode(t, err, vise.CodeConflict)
		_, err = s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-2", Groups: []string{"nope"}})
		wantCode(t, err, vise.CodeNotFound)
		_, err = s.GetDevice(ctx, "cam-2")
		wantCode(t, err, vise.CodeNotFound) // the failed create left nothing behind
		if err := s.AddGroupMember(ctx, "a-site", "cam-1"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.AddGroupMember(ctx, "a-site", "ghost"), vise.CodeNotFound)
		d, err := s.GetDevice(ctx, "cam-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"a-site", "line-3"}, d.Groups); diff != "" {
			t.Errorf("groups sorted (-want +got):\n%s", diff)
		}
		if d.Labels["site"] != "a" {
			t.Errorf("labels = %v", d.Labels)
		}
		g, _ := s.GetGroup(ctx, "line-3")
		if diff := cmp.Diff([]string{"cam-1"}, g.Devices); diff != "" {
			t.Errorf("members (-want +got):\n%s", diff)
		}
		ds, _ := s.ListDevices(ctx)
		gs, _ := s.ListGroups(ctx)
		if len(ds) != 1 || len(gs) != 2 {
			t.Errorf("%d devices, %d groups", len(ds), len(gs))
		}
	})
}

func TestDeployments(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		s.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line-3"})
		for _, n := range []string{"cam-1", "cam-2"} {
			s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: n, Groups: []string{"line-3"}})
		}
		target := vise.Target{Kind: vise.TargetGroup, Name: "line-3"}
		mk := func(v string) *vise.Deployment {
			d, err := s.CreateDeployment(ctx, vise.Deployment{Target: target, FailurePolicy: vise.FailureRollback,
				Components: []vise.ComponentRef{{Name: "infer", Version: v}}, Configuration: map[string]map[string]any{"infer": {"confidence": 0.4}}},
				[]string{"cam-1", "cam-2"})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		first := mk("1.0.0")
		if err := s.SetDeviceState(ctx, first.ID, "cam-1", vise.DeviceDownloading, "12 of 40 MB"); err != nil {
			t.Fatal(err)
		}
		second := mk("1.1.0")
		got, err := s.GetDeployment(ctx, first.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vise.DeploymentSuperseded {
			t.Errorf("first deployment status = %s, want SUPERSEDED", got.Status)
		}
		states := map[string]vise.DeviceState{}
		for _, dd := range got.Devices {
			states[dd.Device] = dd.State
		}
		if diff := cmp.Diff(map[string]vise.DeviceState{"cam-1": vise.DeviceDownloading, "cam-2": vise.DeviceSuperseded}, states); diff != "" {
			t.Errorf("device states of the superseded deployment (-want +got):\n%s", diff)
		}
		cur, _ := s.GetDeployment(ctx, second.ID)
		if cur.Status != vise.DeploymentInProgress || len(cur.Devices) != 2 || cur.Configuration["infer"]["confidence"] != 0.4 {
			t.Errorf("second deployment = %+v", cur)
		}
		wantCode(t, s.SetDeviceState(ctx, second.ID, "ghost", vise.DeviceRunning, ""), vise.CodeNotFound)
		list, _ := s.ListDeployments(ctx, &target, 0)
		if len(list) != 2 || list[0].ID != second.ID {
			t.Errorf("list newest first: %d items", len(list))
		}
		other := vise.Target{Kind: vise.TargetDevice, Name: "cam-1"}
		if list, _ := s.ListDeployments(ctx, &other, 0); len(list) != 0 {
			t.Errorf("filter by target returned %d", len(list))
		}
		_, err = s.GetDeployment(ctx, "nope")
		wantCode(t, err, vise.CodeNotFound)
	})
}

func TestTokens(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		if n, _ := s.CountTokens(ctx); n != 0 {
			t.Fatalf("fresh store has %d tokens", n)
		}
		if _, err := s.CreateToken(ctx, "admin", "admin", "hash-1"); err != nil {
			t.Fatal(err)
		}
		tok, err := s.TokenByHash(ctx, "hash-1")
		if err != nil || tok.Name != "admin" || tok.Role != "admin" {
			t.Errorf("token = %+v, %v", tok, err)
		}
		_, err = s.TokenByHash(ctx, "hash-2")
		wantCode(t, err, vise.CodeUnauthorized)
	})
}

// A SQLite database locked by another process: writes fail as unavailable
// within the busy timeout, nothing is half-written, and the store recovers.
func TestSQLiteLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vise.db")
	s := openStore(t, store.SQLite, store.Options{URL: path, BusyTimeout: 200 * time.Millisecond})
	a := putArtifact(t, s, 1)
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, _ := other.Conn(ctx)
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateModelVersion(ctx, newVersion("m", a, vise.PendingManualApproval))
	wantCode(t, err, vise.CodeUnavailable)
	if !strings.Contains(err.Error(), "locked") {
		t.Errorf("message %q does not say the database is locked", err)
	}
	conn.ExecContext(ctx, "ROLLBACK")
	if _, err := s.GetModelGroup(ctx, "m"); vise.ErrorCode(err) != vise.CodeNotFound {
		t.Errorf("after the failed write: %v", err)
	}
	if _, err := s.CreateModelVersion(ctx, newVersion("m", a, vise.PendingManualApproval)); err != nil {
		t.Errorf("store did not recover: %v", err)
	}
}

func TestSQLiteBadPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, []byte(strings.Repeat("not a database\n", 400)), 0o600)
	_, err := store.Open(ctx, store.Options{URL: filepath.Join(file, "sub", "vise.db")})
	wantCode(t, err, vise.CodeUnavailable)
	if !strings.Contains(err.Error(), filepath.Join(file, "sub")) {
		t.Errorf("error %q does not name the path", err)
	}
	_, err = store.Open(ctx, store.Options{URL: file}) // not a database
	wantCode(t, err, vise.CodeUnavailable)
}

// PostgreSQL going away mid-run gives unavailable errors, not internal ones,
// and never shows the password.
func TestPostgresGone(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	s := openStore(t, store.Postgres, store.Options{URL: dbURL})
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	_, err = s.ListModelGroups(ctx)
	wantCode(t, err, vise.CodeUnavailable)
	_, err = s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"})
	wantCode(t, err, vise.CodeUnavailable)

	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = store.Open(cctx, store.Options{URL: "postgres://vise:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"})
	wantCode(t, err, vise.CodeUnavailable)
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestResults(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		r := vise.Result{MsgID: "m-1", Device: "cam-1", Component: "vise.inspect", Defects: 2, Payload: []byte(`{"msg_id":"m-1"}`)}
		if ok, err := s.InsertResult(ctx, r); !ok || err != nil {
			t.Fatalf("first insert: %v %v", ok, err)
		}
		if ok, err := s.InsertResult(ctx, r); ok || err != nil {
			t.Errorf("duplicate insert: inserted=%v err=%v; want ignored", ok, err)
		}
		r2 := r
		r2.MsgID, r2.Device = "m-2", "cam-2"
		s.InsertResult(ctx, r2)
		all, _ := s.ListResults(ctx, "", time.Time{}, 0)
		cam1, _ := s.ListResults(ctx, "cam-1", time.Time{}, 0)
		if len(all) != 2 || len(cam1) != 1 || cam1[0].Defects != 2 || string(cam1[0].Payload) != `{"msg_id":"m-1"}` {
			t.Errorf("all %d, cam-1 %+v", len(all), cam1)
		}
		got, err := s.GetResult(ctx, "cam-2", "m-2")
		if err != nil || got.Device != "cam-2" {
			t.Errorf("get: %+v %v", got, err)
		}
		_, err = s.GetResult(ctx, "cam-1", "m-2")
		wantCode(t, err, vise.CodeNotFound)
		// Message ids are the device's own: another device's m-1 is its own
		// result, not a duplicate of cam-1's.
		r3 := r
		r3.Device, r3.Payload = "cam-3", []byte(`{"msg_id":"m-1","from":"cam-3"}`)
		if ok, err := s.InsertResult(ctx, r3); !ok || err != nil {
			t.Errorf("cam-3's m-1 after cam-1's: inserted=%v err=%v; want stored", ok, err)
		}
		if got, err := s.GetResult(ctx, "cam-1", "m-1"); err != nil || string(got.Payload) != `{"msg_id":"m-1"}` {
			t.Errorf("cam-1's m-1 was shadowed: %+v %v", got, err)
		}
		if n, err := s.PruneResults(ctx, time.Now().Add(time.Hour)); n != 3 || err != nil {
			t.Errorf("prune: %d %v", n, err)
		}
		if rest, _ := s.ListResults(ctx, "", time.Time{}, 0); len(rest) != 0 {
			t.Errorf("%d results left after pruning", len(rest))
		}
	})
}

func TestResultPages(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
			s := openStore(t, engine, store.Options{Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
			for i := range 5 {
				s.InsertResult(ctx, vise.Result{MsgID: fmt.Sprintf("m-%d", i), Device: "cam-1", Component: "c", Payload: []byte(`{}`)})
			}
			var got []string
			var before time.Time
			for page := 0; page < 5; page++ {
				rs, more, err := s.ListResultsBefore(ctx, "", time.Time{}, before, 2)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rs {
					got = append(got, r.MsgID)
				}
				if !more {
					break
				}
				before = rs[len(rs)-1].ReceivedAt
			}
			if diff := cmp.Diff([]string{"m-4", "m-3", "m-2", "m-1", "m-0"}, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsers(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		u, err := s.CreateUser(ctx, "alice", "admin", "$argon2id$hash-1", "admin-token")
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "alice" || u.Role != "admin" || u.CreatedBy != "admin-token" || u.CreatedAt.IsZero() {
			t.Errorf("created = %+v", u)
		}
		_, err = s.CreateUser(ctx, "alice", "viewer", "$argon2id$hash-2", "admin-token")
		wantCode(t, err, vise.CodeConflict)
		_, err = s.CreateUser(ctx, "bob", "owner", "$argon2id$hash-3", "admin-token")
		wantCode(t, err, vise.CodeConflict) // the CHECK constraint; the users package refuses this earlier
		if _, err := s.CreateUser(ctx, "bob", "viewer", "$argon2id$hash-3", "alice"); err != nil {
			t.Fatal(err)
		}

		got, hash, err := s.UserCredentials(ctx, "alice")
		if err != nil || hash != "$argon2id$hash-1" {
			t.Fatalf("credentials: %q %v", hash, err)
		}
		if diff := cmp.Diff(u, got); diff != "" {
			t.Errorf("read back (-created +read):\n%s", diff)
		}
		_, _, err = s.UserCredentials(ctx, "carol")
		wantCode(t, err, vise.CodeNotFound)

		if err := s.SetUserPassword(ctx, "bob", "$argon2id$hash-4", "alice"); err != nil {
			t.Fatal(err)
		}
		if _, hash, _ := s.UserCredentials(ctx, "bob"); hash != "$argon2id$hash-4" {
			t.Errorf("hash after password change = %q", hash)
		}
		wantCode(t, s.SetUserPassword(ctx, "carol", "x", "alice"), vise.CodeNotFound)

		all, err := s.ListUsers(ctx)
		if err != nil || len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" || all[1].Role != "viewer" {
			t.Errorf("list = %+v, %v", all, err)
		}
		if err := s.DeleteUser(ctx, "bob", "alice"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteUser(ctx, "bob", "alice"), vise.CodeNotFound)
		_, err = s.GetUser(ctx, "bob")
		wantCode(t, err, vise.CodeNotFound)

		evs, _ := s.Events(ctx, "", 100)
		for typ, want := range map[string]int{vise.EventUserCreated: 2, vise.EventUserPasswordChanged: 1, vise.EventUserRemoved: 1} {
			if n := countType(evs, typ); n != want {
				t.Errorf("%d %s events, want %d", n, typ, want)
			}
		}
		for _, ev := range evs {
			if strings.Contains(string(ev.Data), "argon2id") {
				t.Errorf("event %s carries a password hash: %s", ev.Type, ev.Data)
			}
		}
	})
}

// A page of results holds at most vise.MaxResultsPageBytes of payload
// (plus the one result that reaches it), however large the limit: three
// results of 9 MB come as pages of two and one.
func TestResultPagesBoundedByBytes(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			clock := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
			s := openStore(t, engine, store.Options{Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
			big := []byte(`{"note":"` + strings.Repeat("x", 9<<20) + `"}`)
			for i := range 3 {
				if _, err := s.InsertResult(ctx, vise.Result{MsgID: fmt.Sprintf("m-%d", i), Device: "cam-1", Component: "c", Payload: big}); err != nil {
					t.Fatal(err)
				}
			}
			var pages []int
			var before time.Time
			for range 3 {
				rs, more, err := s.ListResultsBefore(ctx, "", time.Time{}, before, vise.MaxListLimit)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, len(rs))
				if !more {
					break
				}
				before = rs[len(rs)-1].ReceivedAt
			}
			if diff := cmp.Diff([]int{2, 1}, pages); diff != "" {
				t.Errorf("results per page of 9 MB results (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerdicts(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		v := vise.Verdict{MsgID: "v-1", Device: "cam-1", Component: "vise.inspect", ResultID: "r-1", PartID: "P-1", Reject: true,
			Payload: []byte(`{"msg_id":"v-1","reject":true}`)}
		if ok, err := s.InsertVerdict(ctx, v); !ok || err != nil {
			t.Fatalf("first insert: %v %v", ok, err)
		}
		if ok, err := s.InsertVerdict(ctx, v); ok || err != nil {
			t.Errorf("duplicate insert: inserted=%v err=%v; want ignored", ok, err)
		}
		pass := v
		pass.MsgID, pass.ResultID, pass.Reject = "v-2", "r-2", false
		s.InsertVerdict(ctx, pass)
		other := v
		other.Device = "cam-2" // its own v-1, not a duplicate
		if ok, err := s.InsertVerdict(ctx, other); !ok || err != nil {
			t.Errorf("another device's v-1: %v %v", ok, err)
		}
		all, _ := s.ListVerdicts(ctx, "cam-1", "", 0)
		ofR1, err := s.ListVerdicts(ctx, "cam-1", "r-1", 0)
		if err != nil || len(all) != 2 || len(ofR1) != 1 || !ofR1[0].Reject || ofR1[0].PartID != "P-1" || string(ofR1[0].Payload) != string(v.Payload) {
			t.Errorf("all %d, of r-1 %+v (%v)", len(all), ofR1, err)
		}
	})
}
