package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
)

// labelResults is a component that sends three results with the tag
// photograph attached, as vise-infer would: a sure defect, an uncertain
// one, and a sample without detections.
func labelResults(t *testing.T, modelSHA string) string {
	jpeg, err := os.ReadFile("../../samples/images/image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg")
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\n"
	for _, r := range []struct {
		id   string
		dets []infer.Detection
	}{
		{"m-defect", []infer.Detection{{Class: "scratch", Confidence: 0.93, Box: infer.Box{X: 100, Y: 80, Width: 60, Height: 40}}}},
		{"m-low", []infer.Detection{{Class: "scratch", Confidence: 0.41, Box: infer.Box{X: 10, Y: 10, Width: 30, Height: 30}}}},
		{"m-sample", nil},
	} {
		b, _ := json.Marshal(infer.Result{Schema: 1, MsgID: r.id, PartID: "part-" + r.id, ComponentVersion: "1.0.0", Model: infer.ModelRef{Name: "metal-tags", SHA256: modelSHA},
			Image: infer.ImageRef{Name: r.id + ".jpg", Width: 450, Height: 300}, Detections: r.dets, ImageData: jpeg})
		script += fmt.Sprintf("until %s ipc publish results '%s'; do sleep 0.2; done\n", viseBin, b)
	}
	return script + "exec sleep 3600\n"
}

func (e *env) labels(args ...string) []vise.LabelImage {
	e.t.Helper()
	var ims []vise.LabelImage
	if err := json.Unmarshal([]byte(e.ok(append([]string{"label", "list", "-o", "json"}, args...)...)), &ims); err != nil {
		e.t.Fatal(err)
	}
	return ims
}

// Images a device sent back reach the labelling queue with the model's
// boxes; the CLI lists, shows and saves labels with the usual exit codes.
func TestCLILabels(t *testing.T) {
	e := startServer(t)
	var mv vise.ModelVersion
	json.Unmarshal([]byte(e.ok("model", "register", "metal-tags", sample(t, "sample-tiny.onnx"), "-o", "json")), &mv)
	e.component("vise.reporter", "1.0.0", labelResults(t, mv.Artifact.SHA256), "  run: {script: \"exec ./artifacts/run.sh\"}\n")
	e.startAgent("cam-1", "")
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.reporter")); st.State != vise.DeviceRunning {
		t.Fatalf("deployment: %+v", st)
	}
	var ims []vise.LabelImage
	e.waitFor("three images in the labelling queue", 60*time.Second, func() bool {
		ims = e.labels()
		return len(ims) == 3
	})
	var got []string
	for _, im := range ims {
		got = append(got, fmt.Sprintf("%s %s %s@%s %d", im.MsgID, im.Reason, im.Model.Name, im.Model.Version, len(im.Prelabels)))
	}
	if diff := cmp.Diff([]string{"m-low uncertain metal-tags@1 1", "m-defect defect metal-tags@1 1", "m-sample sample metal-tags@1 0"}, got); diff != "" {
		t.Errorf("queue, uncertain first (-want +got):\n%s", diff)
	}
	if ims := e.labels("--reason", "defect", "--device", "cam-1", "--model", "metal-tags@1", "--state", "new", "--limit", "5"); len(ims) != 1 || ims[0].MsgID != "m-defect" {
		t.Errorf("filtered: %+v", ims)
	}
	if out := e.ok("label", "list"); !strings.Contains(out, "m-low") || !strings.Contains(out, "uncertain") {
		t.Errorf("table: %q", out)
	}
	if out := e.ok("label", "show", "cam-1", "m-defect"); !strings.Contains(out, "(sha256 "+mv.Artifact.SHA256+")") || !strings.Contains(out, "vise.reporter") {
		t.Errorf("label show lacks the provenance (model sha256, component): %q", out)
	}
	var im vise.LabelImage
	json.Unmarshal([]byte(e.ok("label", "show", "cam-1", "m-defect", "-o", "json")), &im)
	if diff := cmp.Diff([]string{"scratch"}, im.Classes); diff != "" || im.Width != 450 {
		t.Errorf("show: classes %v, width %d", im.Classes, im.Width)
	}

	out := e.ok("label", "save", "cam-1", "m-defect", "--accept")
	if !strings.Contains(out, "saved m-defect of cam-1: labelled, 1 boxes (version 1)") {
		t.Errorf("accept: %q", out)
	}
	boxes := e.write("boxes.json", `[{"class": "scratch", "x": 5, "y": 6, "width": 7, "height": 8}]`)
	json.Unmarshal([]byte(e.ok("label", "save", "cam-1", "m-low", "--boxes", boxes, "-o", "json")), &im)
	if diff := cmp.Diff([]vise.LabelBox{{Class: "scratch", X: 5, Y: 6, Width: 7, Height: 8}}, im.Boxes); diff != "" || im.LabelledBy != "admin" {
		t.Errorf("saved boxes by %s (-want +got):\n%s", im.LabelledBy, diff)
	}
	e.ok("label", "save", "cam-1", "m-sample", "--skip")
	if ims := e.labels("--state", "skipped"); len(ims) != 1 || ims[0].MsgID != "m-sample" {
		t.Errorf("skipped: %+v", ims)
	}

	e.fails(4, "saved by admin", "label", "save", "cam-1", "m-defect", "--no-defect", "--version", "0")
	e.fails(3, "no image nope", "label", "save", "cam-1", "nope", "--skip")
	e.fails(2, "outside the image", "label", "save", "cam-1", "m-low", "--boxes", e.write("out.json", `[{"class": "scratch", "x": 440, "y": 6, "width": 20, "height": 8}]`))
	e.fails(2, "zero area", "label", "save", "cam-1", "m-low", "--boxes", e.write("zero.json", `[{"class": "scratch", "x": 4, "y": 6, "width": 0, "height": 8}]`))
	e.fails(2, `unknown class "dent"`, "label", "save", "cam-1", "m-low", "--boxes", e.write("dent.json", `[{"class": "dent", "x": 4, "y": 6, "width": 3, "height": 8}]`))
	e.fails(2, "exactly one of", "label", "save", "cam-1", "m-low", "--skip", "--no-defect")
	e.fails(2, "not a JSON array of boxes", "label", "save", "cam-1", "m-low", "--boxes", e.write("bad.json", `{"class": 1}`))
	e.fails(2, "--state", "label", "list", "--state", "done")
	e.fails(2, "--reason", "label", "list", "--reason", "odd")
	e.fails(2, "--limit", "label", "list", "--limit", "0")
	e.fails(2, "--limit", "label", "list", "--limit", "10001")

	e.wantIn(0, "added user lena (labeller)", "labeller password\n", "user", "add", "lena", "--role", "labeller", "--password-stdin")
	e.wantIn(2, "use viewer (looks only), labeller", "labeller password\n", "user", "add", "otto", "--role", "labeler", "--password-stdin")
}
