package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// engines runs the same test against SQLite and PostgreSQL: the conformance
// suite. Each subtest gets a fresh, migrated database.
func engines(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			fn(t, openStore(t, engine, store.Options{}))
		})
	}
}

func openStore(t testing.TB, engine string, opts store.Options) *store.Store {
	t.Helper()
	if opts.URL == "" {
		if engine == store.Postgres {
			opts.URL = pgtest.NewDatabase(t)
		} else {
			opts.URL = filepath.Join(t.TempDir(), "vise.db")
		}
	}
	s, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open %s store: %v", engine, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantCode(t *testing.T, err error, code vise.Code) {
	t.Helper()
	if got := vise.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

var ctx = context.Background()

func sha(i int) string { return fmt.Sprintf("%064x", i) }

func putArtifact(t *testing.T, s *store.Store, i int) vise.Artifact {
	t.Helper()
	a := vise.Artifact{SHA256: sha(i), Size: int64(100 + i)}
	if err := s.PutArtifact(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a
}

func newVersion(group string, a vise.Artifact, status vise.ApprovalStatus) vise.ModelVersion {
	return vise.ModelVersion{
		Group: group, Artifact: a, Format: "onnx", Producer: "pytorch",
		Inputs:     []vise.TensorSpec{{Name: "images", ElemType: "float32", Shape: []int64{1, 3, 640, 640}}},
		Outputs:    []vise.TensorSpec{{Name: "output0", ElemType: "float32", Shape: []int64{1, 5, -1}, DimNames: []string{"", "", "anchors"}}},
		ClassNames: []string{"scratch"}, Metadata: map[string]string{"names": "{0: 'scratch'}"},
		Metrics: map[string]float64{"map50": 0.71}, Lineage: vise.Lineage{DatasetDigest: sha(9), TrainingRun: "run-1"},
		Approval: vise.Approval{Status: status}, CreatedBy: "alice",
	}
}

func TestModelVersions(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		a1, a2 := putArtifact(t, s, 1), putArtifact(t, s, 2)
		v1, err := s.CreateModelVersion(ctx, newVersion("metal-tags", a1, vise.PendingManualApproval))
		if err != nil {
			t.Fatal(err)
		}
		v2, err := s.CreateModelVersion(ctx, newVersion("metal-tags", a2, vise.PendingManualApproval))
		if err != nil {
			t.Fatal(err)
		}
		if v1.Version != 1 || v2.Version != 2 {
			t.Fatalf("versions = %d, %d; want 1, 2", v1.Version, v2.Version)
		}
		got, err := s.GetModelVersion(ctx, "metal-tags", 1)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v1, got); diff != "" {
			t.Errorf("stored version differs (-created +read):\n%s", diff)
		}
		list, err := s.ListModelVersions(ctx, "metal-tags")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Version != 2 {
			t.Errorf("list = %d versions, first %d; want 2, newest first", len(list), list[0].Version)
		}
		g, err := s.GetModelGroup(ctx, "metal-tags")
		if err != nil {
			t.Fatal(err)
		}
		if g.VersionCount != 2 || g.LatestVersion != 2 || g.LatestApproved != 0 {
			t.Errorf("group = %+v", g)
		}
	})
}

func TestModelNotFound(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		_, err := s.GetModelGroup(ctx, "nope")
		wantCode(t, err, vise.CodeNotFound)
		_, err = s.GetModelVersion(ctx, "nope", 1)
		wantCode(t, err, vise.CodeNotFound)
		s.CreateModelVersion(ctx, newVersion("m", putArtifact(t, s, 1), vise.PendingManualApproval))
		_, err = s.GetModelVersion(ctx, "m", 7)
		wantCode(t, err, vise.CodeNotFound)
		if !strings.Contains(err.Error(), "no version 7") {
			t.Errorf("message %q does not name the version", err)
		}
		_, err = s.DecideModelVersion(ctx, "m", 7, vise.Approved, "bob", "")
		wantCode(t, err, vise.CodeNotFound)
		_, err = s.LatestModelVersion(ctx, "m", vise.Approved)
		wantCode(t, err, vise.CodeNotFound)
	})
}

func TestModelNeedsUploadedArtifact(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		_, err := s.CreateModelVersion(ctx, newVersion("m", vise.Artifact{SHA256: sha(5), Size: 1}, vise.PendingManualApproval))
		wantCode(t, err, vise.CodeNotFound)
		if _, err := s.GetModelGroup(ctx, "m"); vise.ErrorCode(err) != vise.CodeNotFound {
			t.Errorf("failed registration left a model group behind: %v", err)
		}
	})
}

func TestApprovalAndEvents(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		live, cancel := s.Subscribe(16)
		defer cancel()
		for i := 1; i <= 3; i++ {
			if _, err := s.CreateModelVersion(ctx, newVersion("m", putArtifact(t, s, i), vise.PendingManualApproval)); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range []int{1, 3} {
			mv, err := s.DecideModelVersion(ctx, "m", v, vise.Approved, "bob", "looks good")
			if err != nil {
				t.Fatal(err)
			}
			if mv.Approval.Status != vise.Approved || mv.Approval.By != "bob" || mv.Approval.Reason != "looks good" || mv.Approval.At == nil {
				t.Errorf("approval = %+v", mv.Approval)
			}
		}
		if _, err := s.DecideModelVersion(ctx, "m", 2, vise.Rejected, "carol", "map50 too low"); err != nil {
			t.Fatal(err)
		}
		// A rejected version stays rejected.
		_, err := s.DecideModelVersion(ctx, "m", 2, vise.Approved, "dave", "changed my mind")
		wantCode(t, err, vise.CodeConflict)
		// Approving again changes nothing and emits nothing.
		if _, err := s.DecideModelVersion(ctx, "m", 3, vise.Approved, "dave", "again"); err != nil {
			t.Fatal(err)
		}
		latest, err := s.LatestModelVersion(ctx, "m", vise.Approved)
		if err != nil {
			t.Fatal(err)
		}
		if latest.Version != 3 || latest.Approval.By != "bob" {
			t.Errorf("latest approved = v%d by %s; want v3 by bob (newest, not oldest)", latest.Version, latest.Approval.By)
		}
		evs, err := s.Events(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Type+" "+ev.Subject)
		}
		want := []string{"model.registered m/1", "model.registered m/2", "model.registered m/3",
			"model.approved m/1", "model.approved m/3", "model.rejected m/2"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		var mv vise.ModelVersion
		if err := json.Unmarshal(evs[4].Data, &mv); err != nil || mv.Approval.By != "bob" {
			t.Errorf("approved event data = %s (%v)", evs[4].Data, err)
		}
		after, _ := s.Events(ctx, evs[3].ID, 100)
		if len(after) != 2 {
			t.Errorf("events after the 4th = %d, want 2", len(after))
		}
		for i := range want {
			select {
			case ev := <-live:
				if ev.ID != evs[i].ID {
					t.Errorf("live event %d = %s, want %s", i, ev.ID, evs[i].ID)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("live event %d not delivered", i)
			}
		}
	})
}

// A hook that fails rolls the whole change back: nothing is half stored.
func TestEventHookFailureRollsBack(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		var seen []string
		s.OnEvent(func(ctx context.Context, tx *sql.Tx, ev vise.Event) error {
			seen = append(seen, ev.Type)
			if ev.Type == vise.EventModelApproved {
				return errors.New("queue full")
			}
			return nil
		})
		a := putArtifact(t, s, 1)
		if _, err := s.CreateModelVersion(ctx, newVersion("m", a, vise.Approved)); err == nil {
			t.Fatal("registration succeeded although the approval hook failed")
		}
		if _, err := s.GetModelGroup(ctx, "m"); vise.ErrorCode(err) != vise.CodeNotFound {
			t.Errorf("model group stored despite rollback: %v", err)
		}
		if evs, _ := s.Events(ctx, "", 10); len(evs) != 0 {
			t.Errorf("%d events stored despite rollback", len(evs))
		}
		if diff := cmp.Diff([]string{"model.registered", "model.approved"}, seen); diff != "" {
			t.Errorf("hooks saw (-want +got):\n%s", diff)
		}
	})
}

// Concurrent registrations in one group get distinct, dense version numbers.
func TestConcurrentRegistration(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		const n = 8
		var wg sync.WaitGroup
		versions := make(chan int, n)
		errs := make(chan error, n)
		for i := range n {
			a := putArtifact(t, s, i)
			wg.Go(func() {
				mv, err := s.CreateModelVersion(ctx, newVersion("m", a, vise.PendingManualApproval))
				if err != nil {
					errs <- err
					return
				}
				versions <- mv.Version
			})
		}
		wg.Wait()
		close(versions)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var got []int
		for v := range versions {
			got = append(got, v)
		}
		sort.Ints(got)
		if diff := cmp.Diff([]int{1, 2, 3, 4, 5, 6, 7, 8}, got); diff != "" {
			t.Errorf("versions (-want +got):\n%s", diff)
		}
	})
}
