package store_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// queueImage stores a result and puts its image into the labelling queue.
func queueImage(t *testing.T, s *store.Store, device, msgID string, detections int, top *float64, deviceReason string) {
	t.Helper()
	if _, err := s.InsertResult(ctx, vise.Result{MsgID: msgID, Device: device, Component: "vise.inspect", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetResult(ctx, device, msgID)
	im := vise.LabelImage{Device: device, MsgID: msgID, Component: "vise.inspect", ImageSHA256: sha(7), Width: 450, Height: 300,
		Model: vise.LabelModel{Name: "metal-tags", Version: "1", SHA256: sha(1)}, TopConfidence: top, ReceivedAt: got.ReceivedAt}
	if detections > 0 {
		im.Prelabels = []vise.LabelBox{{Class: "scratch", X: 1, Y: 2, Width: 3, Height: 4, Confidence: *top}}
	}
	if n, err := s.AddLabelImages(ctx, []store.LabelSource{{Image: im, DeviceReason: deviceReason, Detections: detections}}); n != 1 || err != nil {
		t.Fatalf("add %s: %d %v", msgID, n, err)
	}
}

func ptr(f float64) *float64 { return &f }

var window = vise.ConfidenceWindow{Lo: 0.25, Hi: 0.6}

func TestLabelQueue(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		queueImage(t, s, "cam-1", "sample", 0, nil, "")
		queueImage(t, s, "cam-1", "defect", 1, ptr(0.9), "")
		queueImage(t, s, "cam-2", "low", 1, ptr(0.4), "")      // in the window
		queueImage(t, s, "cam-2", "said", 0, nil, "uncertain") // the device said so
		queueImage(t, s, "cam-2", "edge", 1, ptr(0.6), "")     // the bound is in
		again := vise.LabelImage{Device: "cam-1", MsgID: "sample", Component: "x", ImageSHA256: sha(8), ReceivedAt: time.Now()}
		if n, err := s.AddLabelImages(ctx, []store.LabelSource{{Image: again, Detections: 5}}); n != 0 || err != nil {
			t.Errorf("adding a queued image again: added %d, %v; want it left alone", n, err)
		}
		ids := func(f vise.LabelFilter, w vise.ConfidenceWindow) []string {
			ims, err := s.ListLabelImages(ctx, f, w)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, im := range ims {
				out = append(out, im.MsgID+":"+string(im.Reason))
			}
			return out
		}
		// Uncertain first, then defects, then samples; newest first within.
		want := []string{"edge:uncertain", "said:uncertain", "low:uncertain", "defect:defect", "sample:sample"}
		if diff := cmp.Diff(want, ids(vise.LabelFilter{}, window)); diff != "" {
			t.Errorf("queue order (-want +got):\n%s", diff)
		}
		for _, c := range []struct {
			f    vise.LabelFilter
			w    vise.ConfidenceWindow
			want []string
		}{
			{vise.LabelFilter{Device: "cam-1"}, window, []string{"defect:defect", "sample:sample"}},
			{vise.LabelFilter{Reason: vise.ReasonUncertain, Limit: 2}, window, []string{"edge:uncertain", "said:uncertain"}},
			{vise.LabelFilter{Reason: vise.ReasonDefect}, vise.ConfidenceWindow{Lo: 1, Hi: 0}, []string{"edge:defect", "low:defect", "defect:defect"}},
			{vise.LabelFilter{Model: "metal-tags@1", Device: "cam-1"}, window, []string{"defect:defect", "sample:sample"}},
			{vise.LabelFilter{Model: "metal-tags@2"}, window, nil},
			{vise.LabelFilter{Model: "other"}, window, nil},
			{vise.LabelFilter{State: vise.LabelLabelled}, window, nil},
		} {
			if diff := cmp.Diff(c.want, ids(c.f, c.w)); diff != "" {
				t.Errorf("filter %+v window %v (-want +got):\n%s", c.f, c.w, diff)
			}
		}

		boxes := []vise.LabelBox{{Class: "scratch", X: 10, Y: 20, Width: 30, Height: 40}}
		if err := s.SaveLabel(ctx, "cam-1", "defect", vise.SaveLabelRequest{Version: 0, State: vise.LabelLabelled, Boxes: boxes}, "alice"); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetLabelImage(ctx, "cam-1", "defect", window)
		if err != nil || got.Version != 1 || got.LabelledBy != "alice" || got.State != vise.LabelLabelled || got.LabelledAt == nil {
			t.Fatalf("after save: %+v %v", got, err)
		}
		if diff := cmp.Diff(boxes, got.Boxes); diff != "" {
			t.Errorf("stored boxes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"defect:defect"}, ids(vise.LabelFilter{State: vise.LabelLabelled}, window)); diff != "" {
			t.Errorf("labelled filter (-want +got):\n%s", diff)
		}
		// Bob opened it at version 0 too: his save is refused, naming Alice.
		err = s.SaveLabel(ctx, "cam-1", "defect", vise.SaveLabelRequest{Version: 0, State: vise.LabelSkipped}, "bob")
		wantCode(t, err, vise.CodeConflict)
		if !strings.Contains(err.Error(), "saved by alice") || !strings.Contains(err.Error(), "version 1") {
			t.Errorf("conflict message %q does not name alice and the version", err)
		}
		err = s.SaveLabel(ctx, "cam-9", "defect", vise.SaveLabelRequest{State: vise.LabelSkipped}, "bob")
		wantCode(t, err, vise.CodeNotFound)
		_, err = s.GetLabelImage(ctx, "cam-9", "defect", window)
		wantCode(t, err, vise.CodeNotFound)

		// Retention takes the result: the image leaves the queue and a
		// save for it is refused as deleted, not as unknown.
		if _, err := s.PruneResults(ctx, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := ids(vise.LabelFilter{}, window); len(got) != 0 {
			t.Errorf("queue after pruning: %v", got)
		}
		err = s.SaveLabel(ctx, "cam-2", "low", vise.SaveLabelRequest{State: vise.LabelLabelled}, "alice")
		wantCode(t, err, vise.CodeNotFound)
		if !strings.Contains(err.Error(), "deleted by retention") {
			t.Errorf("save after pruning: %q, want it to say deleted by retention", err)
		}
		_, err = s.GetLabelImage(ctx, "cam-2", "low", window)
		if !strings.Contains(err.Error(), "deleted by retention") {
			t.Errorf("get after pruning: %v", err)
		}
	})
}

// Labellers saving one image at the same moment: exactly one wins, and
// every other is told who.
func TestLabelSavesRace(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		queueImage(t, s, "cam-1", "m-1", 0, nil, "")
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = s.SaveLabel(ctx, "cam-1", "m-1", vise.SaveLabelRequest{State: vise.LabelLabelled}, "user-"+string(rune('a'+i)))
			})
		}
		wg.Wait()
		got, err := s.GetLabelImage(ctx, "cam-1", "m-1", window)
		if err != nil || got.Version != 1 {
			t.Fatalf("after the race: %+v %v; want version 1", got, err)
		}
		wins := 0
		for i, err := range errs {
			switch vise.ErrorCode(err) {
			case "":
				wins++
			case vise.CodeConflict:
				if !strings.Contains(err.Error(), "saved by "+got.LabelledBy) {
					t.Errorf("save %d: %q does not name the winner %s", i, err, got.LabelledBy)
				}
			default:
				t.Errorf("save %d: %v", i, err)
			}
		}
		if wins != 1 {
			t.Errorf("%d saves won, want exactly 1", wins)
		}
	})
}

// Migration 00010 lets a user be a labeller, and nothing else new; users
// made before it are kept.
func TestLabellerRole(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		if _, err := s.CreateUser(ctx, "lena", "labeller", "$argon2id$hash-1", "admin"); err != nil {
			t.Fatal(err)
		}
		u, _, err := s.UserCredentials(ctx, "lena")
		if err != nil || u.Role != "labeller" {
			t.Errorf("labeller read back: %+v %v", u, err)
		}
		_, err = s.CreateUser(ctx, "otto", "labeler", "$argon2id$hash-2", "admin")
		wantCode(t, err, vise.CodeConflict) // still checked
	})
}
