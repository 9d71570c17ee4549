package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

func TestDatasetVersions(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		img := vise.Artifact{SHA256: sha(50), Size: 1234}
		dv := vise.DatasetVersion{Name: "tags", Digest: sha(1), Images: 1, Train: 1, Bytes: 1234, Classes: []string{"scratch"}, Source: "imported", CreatedBy: "alice"}
		v1, created, err := s.CreateDatasetVersion(ctx, dv, []vise.Artifact{img})
		if err != nil || !created || v1.Version != 1 {
			t.Fatalf("first: %+v %v %v", v1, created, err)
		}
		if a, err := s.GetArtifact(ctx, img.SHA256); err != nil || a.Size != 1234 {
			t.Errorf("the image is not recorded as an artifact: %+v %v", a, err)
		}
		again, created, err := s.CreateDatasetVersion(ctx, dv, nil)
		if err != nil || created || again.Version != 1 {
			t.Errorf("same content again: %+v created=%v %v; want version 1 back", again, created, err)
		}
		dv.Digest, dv.Base = sha(2), "tags@1"
		v2, created, err := s.CreateDatasetVersion(ctx, dv, nil)
		if err != nil || !created || v2.Version != 2 {
			t.Fatalf("second: %+v %v %v", v2, created, err)
		}
		other := dv
		other.Name = "other"
		if v, _, err := s.CreateDatasetVersion(ctx, other, nil); err != nil || v.Version != 1 {
			t.Errorf("another dataset with the same content: %+v %v; want its own version 1", v, err)
		}
		got, err := s.GetDatasetVersion(ctx, "tags", 0)
		if err != nil || got.Version != 2 || got.Base != "tags@1" {
			t.Errorf("newest: %+v %v", got, err)
		}
		if diff := cmp.Diff(v1, mustGet(t, s, "tags", 1)); diff != "" {
			t.Errorf("read back (-created +read):\n%s", diff)
		}
		all, _ := s.ListDatasetVersions(ctx, "")
		tags, _ := s.ListDatasetVersions(ctx, "tags")
		if len(all) != 3 || len(tags) != 2 || tags[0].Version != 2 {
			t.Errorf("list: all %d, tags %d", len(all), len(tags))
		}
		_, err = s.GetDatasetVersion(ctx, "tags", 3)
		wantCode(t, err, vise.CodeNotFound)
		_, err = s.GetDatasetVersion(ctx, "nope", 0)
		wantCode(t, err, vise.CodeNotFound)
		evs, _ := s.Events(ctx, "", 100)
		if n := countType(evs, vise.EventDatasetCreated); n != 3 {
			t.Errorf("%d dataset.created events, want 3", n)
		}
	})
}

func mustGet(t *testing.T, s *store.Store, name string, v int) *vise.DatasetVersion {
	t.Helper()
	dv, err := s.GetDatasetVersion(ctx, name, v)
	if err != nil {
		t.Fatal(err)
	}
	return dv
}

// Labelled images for a dataset: labelled only (with or without boxes),
// by time, device and model, and still there after retention.
func TestLabelledImages(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		queueImage(t, s, "cam-1", "a", 1, ptr(0.9), "")
		queueImage(t, s, "cam-2", "b", 0, nil, "")
		queueImage(t, s, "cam-2", "c", 0, nil, "")
		queueImage(t, s, "cam-2", "d", 0, nil, "")
		for id, st := range map[string]vise.LabelState{"a": vise.LabelLabelled, "b": vise.LabelLabelled, "c": vise.LabelSkipped} {
			device := "cam-2"
			if id == "a" {
				device = "cam-1"
			}
			if err := s.SaveLabel(ctx, device, id, vise.SaveLabelRequest{State: st}, "lena"); err != nil {
				t.Fatal(err)
			}
		}
		s.PruneResults(ctx, time.Now().Add(time.Hour))
		ids := func(since time.Time, device, model string) []string {
			ims, err := s.LabelledImages(ctx, since, device, model)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, im := range ims {
				out = append(out, im.MsgID)
			}
			return out
		}
		for _, c := range []struct {
			since         time.Time
			device, model string
			want          []string
		}{
			{time.Time{}, "", "", []string{"a", "b"}},
			{time.Time{}, "cam-2", "", []string{"b"}},
			{time.Time{}, "", "metal-tags@1", []string{"a", "b"}},
			{time.Time{}, "", "metal-tags@2", nil},
			{time.Now().Add(time.Hour), "", "", nil},
		} {
			if diff := cmp.Diff(c.want, ids(c.since, c.device, c.model)); diff != "" {
				t.Errorf("since %v device %q model %q (-want +got):\n%s", c.since, c.device, c.model, diff)
			}
		}
	})
}
