package labels_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/labels"
)

// An image in the queue keeps where it came from: device, model name,
// version and sha256, component and its version, capture time, part id and
// the device's reason for sending it.
func TestQueueKeepsProvenance(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		captured := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
		f.send("cam-7", "traced", true, func(r *infer.Result) {
			r.Device, r.ComponentVersion, r.PartID, r.Reason, r.CapturedAt = "cam-7", "1.4.0", "part-0042", "sample", captured
		})
		f.send("cam-7", "untraced", true, nil) // an older vise-infer: no version, no part
		svc := labels.New(labels.Options{Store: f.store, Blobs: opener{f.blobs}})
		im, err := svc.Get(ctx, "cam-7", "traced")
		if err != nil {
			t.Fatal(err)
		}
		type prov struct {
			Device, Component, ComponentVersion, PartID string
			Model                                       vise.LabelModel
			Reason                                      vise.LabelReason
			CapturedAt                                  time.Time
		}
		got := prov{im.Device, im.Component, im.ComponentVersion, im.PartID, im.Model, im.Reason, *im.CapturedAt}
		want := prov{"cam-7", "vise.inspect", "1.4.0", "part-0042", vise.LabelModel{Name: "metal-tags", Version: "1", SHA256: registered}, vise.ReasonSample, captured}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("provenance (-want +got):\n%s", diff)
		}
		ims, err := svc.List(ctx, vise.LabelFilter{Device: "cam-7"})
		if err != nil || len(ims) != 2 {
			t.Fatalf("list: %d images, %v", len(ims), err)
		}
		for _, im := range ims {
			if im.MsgID == "untraced" && (im.ComponentVersion != "" || im.PartID != "") {
				t.Errorf("an image without provenance got some: %+v", im)
			}
			if im.MsgID == "traced" && im.PartID != "part-0042" {
				t.Errorf("the list lacks the part id: %+v", im)
			}
		}
	})
}
