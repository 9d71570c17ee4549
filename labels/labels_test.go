package labels_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/ingest"
	"github.com/vise-edge/vise/labels"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// opener gives the labels service the blob store's images.
type opener struct{ *blobs.Store }

func (o opener) OpenArtifact(ctx context.Context, sha string, offset, length int64) (io.ReadCloser, error) {
	return o.Open(ctx, sha, offset, length)
}

// fixture is a store and blob store fed through the real ingester, as the
// server is fed by devices.
type fixture struct {
	t     *testing.T
	store *store.Store
	blobs *blobs.Store
	in    *ingest.Ingester
	jpeg  []byte
}

func newFixture(t *testing.T, engine string) *fixture {
	t.Helper()
	url := filepath.Join(t.TempDir(), "vise.db")
	if engine == store.Postgres {
		url = pgtest.NewDatabase(t)
	}
	s, err := store.Open(ctx, store.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b, err := blobs.Open(ctx, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	jpeg, err := os.ReadFile("../samples/images/image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg") // 450x300
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: s, blobs: b, in: ingest.New(ingest.Options{Context: ctx, Store: s, Blobs: b}), jpeg: jpeg}
	// The model the devices run, registered with its class.
	model := vise.Artifact{SHA256: fmt.Sprintf("%064x", 1), Size: 10}
	if err := s.PutArtifact(ctx, model); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateModelVersion(ctx, vise.ModelVersion{Group: "metal-tags", Artifact: model, Format: "onnx", ClassNames: []string{"scratch"},
		Approval: vise.Approval{Status: vise.Approved}}); err != nil {
		t.Fatal(err)
	}
	return f
}

const registered = "0000000000000000000000000000000000000000000000000000000000000001"

// send publishes a result as a device would; with image, the JPEG rides along.
func (f *fixture) send(device, msgID string, image bool, mutate func(r *infer.Result)) {
	f.t.Helper()
	r := infer.Result{Schema: 1, MsgID: msgID, Model: infer.ModelRef{Name: "model", SHA256: registered},
		Image: infer.ImageRef{Name: msgID + ".jpg", Width: 450, Height: 300}, CapturedAt: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	if image {
		r.ImageData = f.jpeg
	}
	if mutate != nil {
		mutate(&r)
	}
	b, _ := json.Marshal(r)
	if err := f.in.Result("vise/devices/"+device+"/inference/vise.inspect", b); err != nil {
		f.t.Fatal(err)
	}
}

func det(conf, x, y, w, h float64) infer.Detection {
	return infer.Detection{Class: "scratch", Confidence: conf, Box: infer.Box{X: x, Y: y, Width: w, Height: h}}
}

// fill sends one result of each kind the queue tells apart.
func (f *fixture) fill() {
	f.send("cam-1", "defect", true, func(r *infer.Result) { r.Detections = []infer.Detection{det(0.9, 400, 250, 80, 80)} }) // runs off the image
	f.send("cam-1", "low", true, func(r *infer.Result) { r.Detections = []infer.Detection{det(0.4, 10, 10, 20, 20)} })
	f.send("cam-2", "sample", true, nil)
	f.send("cam-2", "no-image", false, func(r *infer.Result) { r.Detections = []infer.Detection{det(0.9, 1, 1, 5, 5)} })
	f.send("cam-2", "no-size", true, func(r *infer.Result) { r.Image.Width, r.Image.Height = 0, 0 })
	f.send("cam-3", "unregistered", true, func(r *infer.Result) {
		r.Model = infer.ModelRef{Name: "other", Version: "3", SHA256: strings.Repeat("e", 64)}
	})
}

func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, e := range []string{store.SQLite, store.Postgres} {
		t.Run(e, func(t *testing.T) { fn(t, newFixture(t, e)) })
	}
}

func TestQueueFromResults(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		f.fill()
		// The device says why in a "reason" field of its result.
		b := `{"schema":1,"msg_id":"said","model":{"sha256":"` + registered + `"},"image":{"width":450,"height":300},"reason":"uncertain","image_data":"` +
			b64(f.jpeg) + `"}`
		if err := f.in.Result("vise/devices/cam-1/inference/vise.inspect", []byte(b)); err != nil {
			t.Fatal(err)
		}
		svc := labels.New(labels.Options{Store: f.store, Blobs: opener{f.blobs}})
		ims, err := svc.List(ctx, vise.LabelFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, im := range ims {
			got = append(got, fmt.Sprintf("%s/%s:%s %s@%s %dx%d", im.Device, im.MsgID, im.Reason, im.Model.Name, im.Model.Version, im.Width, im.Height))
		}
		want := []string{
			"cam-1/said:uncertain metal-tags@1 450x300",
			"cam-1/low:uncertain metal-tags@1 450x300",
			"cam-1/defect:defect metal-tags@1 450x300",
			"cam-3/unregistered:sample other@3 450x300",
			"cam-2/no-size:sample metal-tags@1 450x300", // size read from the image itself
			"cam-2/sample:sample metal-tags@1 450x300",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("queue (-want +got):\n%s", diff)
		}
		im, err := svc.Get(ctx, "cam-1", "defect")
		if err != nil {
			t.Fatal(err)
		}
		wantPre := []vise.LabelBox{{Class: "scratch", X: 400, Y: 250, Width: 50, Height: 50, Confidence: 0.9}} // fitted into the image
		if diff := cmp.Diff(wantPre, im.Prelabels); diff != "" {
			t.Errorf("pre-labels (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"scratch"}, im.Classes); diff != "" || im.State != vise.LabelNew || im.CapturedAt == nil {
			t.Errorf("classes %v (%s), state %s, captured %v", im.Classes, diff, im.State, im.CapturedAt)
		}
		// Accepting the pre-labels as they are passes the checks.
		if _, err := svc.Save(ctx, "cam-1", "defect", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: im.Prelabels}, "alice"); err != nil {
			t.Errorf("accept pre-labels: %v", err)
		}
		// A second service (another replica, or after a restart) finds the
		// same queue and new results.
		f.send("cam-2", "later", true, nil)
		other := labels.New(labels.Options{Store: f.store, Blobs: opener{f.blobs}, Uncertain: &vise.ConfidenceWindow{Lo: 1, Hi: 0}})
		ims, _ = other.List(ctx, vise.LabelFilter{Device: "cam-1"})
		got = nil
		for _, im := range ims {
			got = append(got, im.MsgID+":"+string(im.Reason)+":"+string(im.State))
		}
		if diff := cmp.Diff([]string{"said:uncertain:new", "low:defect:new", "defect:defect:labelled"}, got); diff != "" {
			t.Errorf("with the window off, cam-1 (-want +got):\n%s", diff)
		}
		if _, err := other.Get(ctx, "cam-2", "later"); err != nil {
			t.Errorf("a result sent later: %v", err)
		}
	})
}

func b64(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

// Each bad label is refused with a message that says what is wrong, and
// nothing is stored.
func TestBadLabels(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		f.fill()
		svc := labels.New(labels.Options{Store: f.store, Blobs: opener{f.blobs}})
		box := func(class string, x, y, w, h float64) []vise.LabelBox {
			return []vise.LabelBox{{Class: "scratch", X: 1, Y: 1, Width: 5, Height: 5}, {Class: class, X: x, Y: y, Width: w, Height: h}}
		}
		for _, c := range []struct {
			name, msgID string
			req         vise.SaveLabelRequest
			code        vise.Code
			says        string
		}{
			{"outside right", "low", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: box("scratch", 440, 10, 20, 20)}, vise.CodeInvalid, "box 2 (x 440, y 10, 20x20) is outside the image (450x300"},
			{"outside top", "low", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: box("scratch", 10, -1, 20, 20)}, vise.CodeInvalid, "outside the image"},
			{"zero width", "low", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: box("scratch", 10, 10, 0, 20)}, vise.CodeInvalid, "box 2 has zero area"},
			{"negative height", "low", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: box("scratch", 10, 10, 5, -3)}, vise.CodeInvalid, "zero area"},
			{"unknown class", "low", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: box("dent", 10, 10, 5, 5)}, vise.CodeInvalid, `box 2: unknown class "dent": the model's classes are ["scratch"]`},
			{"model not registered", "unregistered", vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: box("scratch", 10, 10, 5, 5)}, vise.CodeInvalid, "not in the registry, so its classes are unknown"},
			{"skipped with boxes", "low", vise.SaveLabelRequest{State: vise.LabelSkipped, Boxes: box("scratch", 10, 10, 5, 5)}, vise.CodeInvalid, "a skipped image has no boxes"},
			{"no state", "low", vise.SaveLabelRequest{}, vise.CodeInvalid, `state "": save as labelled`},
			{"no such image", "nope", vise.SaveLabelRequest{State: vise.LabelSkipped}, vise.CodeNotFound, "no image nope"},
			{"result without image", "no-image", vise.SaveLabelRequest{State: vise.LabelSkipped}, vise.CodeNotFound, "without a stored image are not labelled"},
			{"from a version that never was", "low", vise.SaveLabelRequest{Version: 3, State: vise.LabelSkipped}, vise.CodeConflict, "(version 3)"},
		} {
			t.Run(c.name, func(t *testing.T) {
				device := map[string]string{"unregistered": "cam-3", "no-image": "cam-2"}[c.msgID]
				if device == "" {
					device = "cam-1"
				}
				_, err := svc.Save(ctx, device, c.msgID, c.req, "alice")
				if vise.ErrorCode(err) != c.code || err == nil || !strings.Contains(err.Error(), c.says) {
					t.Fatalf("got %v (%s), want %s saying %q", err, vise.ErrorCode(err), c.code, c.says)
				}
			})
		}
		if ims, _ := svc.List(ctx, vise.LabelFilter{State: vise.LabelNew}); len(ims) != 5 {
			t.Errorf("%d new images after refused saves, want all 5", len(ims))
		}
		// An unregistered model's image can still be marked free of defects.
		if _, err := svc.Save(ctx, "cam-3", "unregistered", vise.SaveLabelRequest{State: vise.LabelLabelled}, "alice"); err != nil {
			t.Errorf("no defect on an unregistered model's image: %v", err)
		}
	})
}

// A label for an image that retention deleted while it was open.
func TestLabelAfterRetention(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		f.fill()
		svc := labels.New(labels.Options{Store: f.store, Blobs: opener{f.blobs}})
		im, err := svc.Get(ctx, "cam-1", "low")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.PruneResults(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err = svc.Save(ctx, "cam-1", "low", vise.SaveLabelRequest{Version: im.Version, State: vise.LabelLabelled, Boxes: im.Prelabels}, "alice")
		if vise.ErrorCode(err) != vise.CodeNotFound || !strings.Contains(err.Error(), "deleted by retention") {
			t.Fatalf("save after retention: %v; want not found, deleted by retention", err)
		}
		if ims, _ := svc.List(ctx, vise.LabelFilter{}); len(ims) != 0 {
			t.Errorf("%d images listed after retention took every result", len(ims))
		}
	})
}

func TestParseWindow(t *testing.T) {
	for _, c := range []struct {
		in   string
		want *vise.ConfidenceWindow
	}{
		{"", &vise.DefaultUncertainWindow},
		{"0.3-0.5", &vise.ConfidenceWindow{Lo: 0.3, Hi: 0.5}},
		{"off", &vise.ConfidenceWindow{Lo: 1, Hi: 0}},
		{"0.5-0.3", nil}, {"0.5", nil}, {"-0.1-0.5", nil}, {"0.2-1.5", nil}, {"a-b", nil},
	} {
		got, err := labels.ParseWindow(c.in)
		if c.want == nil {
			if vise.ErrorCode(err) != vise.CodeInvalid {
				t.Errorf("%q: %v %v, want invalid", c.in, got, err)
			}
			continue
		}
		if err != nil || *got != *c.want {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
		}
	}
}

// A result stamped before the last sync's newest but committed after it
// (another writer's transaction) is still queued; reads within a second of
// a sync see what it left.
func TestSyncTakesLateCommits(t *testing.T) {
	stamp := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	dbPath := filepath.Join(t.TempDir(), "vise.db")
	s, err := store.Open(ctx, store.Options{URL: dbPath, Now: func() time.Time { return stamp }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	clock := time.Date(2026, 12, 1, 10, 0, 1, 0, time.UTC)
	svc := labels.New(labels.Options{Store: s, Now: func() time.Time { return clock }})
	// A second store on the same database stands in for another replica:
	// each stamps its own results in its own commit order.
	replica, err := store.Open(ctx, store.Options{URL: dbPath, Now: func() time.Time { return stamp }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	add := func(id string, at time.Time) {
		stamp = at
		on := s
		if id == "late" {
			on = replica
		}
		payload := `{"schema":1,"msg_id":"` + id + `","image":{"width":450,"height":300,"stored":"` + strings.Repeat("a", 64) + `"}}`
		if _, err := on.InsertResult(ctx, vise.Result{MsgID: id, Device: "cam-1", Component: "c", Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	queued := func() (ids []string) {
		ims, err := svc.List(ctx, vise.LabelFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range ims {
			ids = append(ids, im.MsgID)
		}
		return ids
	}
	add("a", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	if got := queued(); !cmp.Equal(got, []string{"a"}) {
		t.Fatalf("queue %v, want a", got)
	}
	add("late", time.Date(2026, 12, 1, 9, 59, 50, 0, time.UTC)) // stamped 10 s before a, stored after it
	add("b", time.Date(2026, 12, 1, 10, 0, 2, 0, time.UTC))
	clock = clock.Add(500 * time.Millisecond)
	if got := queued(); !cmp.Equal(got, []string{"a"}) {
		t.Errorf("half a second after a sync: %v, want the queue as that sync left it", got)
	}
	clock = clock.Add(time.Second)
	if got := queued(); !cmp.Equal(got, []string{"b", "a", "late"}) {
		t.Errorf("a second later: %v, want b, a and the late one", got)
	}
}
