package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/datasets"
)

func (e *env) datasetVersions(name string) []vise.DatasetVersion {
	e.t.Helper()
	var dvs []vise.DatasetVersion
	if err := json.Unmarshal([]byte(e.ok("dataset", "list", name, "-o", "json")), &dvs); err != nil {
		e.t.Fatal(err)
	}
	return dvs
}

func (e *env) datasetJSON(args ...string) vise.DatasetVersion {
	e.t.Helper()
	var dv vise.DatasetVersion
	if err := json.Unmarshal([]byte(e.ok(append(args, "-o", "json")...)), &dv); err != nil {
		e.t.Fatal(err)
	}
	return dv
}

// baseDataset is the shared metal-tags dataset, or (on a machine without
// it) the 20 samples with their labels.
func baseDataset(t *testing.T) (dir string, images, boxes int) {
	shared, _ := filepath.Abs("../../../shared/datasets/metal-tags")
	if _, err := os.Stat(filepath.Join(shared, "data.yaml")); err == nil {
		return shared, 196, 412 // its README: 196 labelled images, 412 scratch boxes
	}
	t.Logf("the shared metal-tags dataset is not at %s; using samples/", shared)
	dir = t.TempDir()
	os.CopyFS(dir, os.DirFS("../../samples"))
	os.RemoveAll(filepath.Join(dir, "models"))
	os.WriteFile(filepath.Join(dir, "data.yaml"), []byte("names:\n  0: scratch\n"), 0o644)
	img, _ := os.ReadFile(filepath.Join(dir, "images", "image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg"))
	os.WriteFile(filepath.Join(dir, "images", "unlabelled.jpg"), img, 0o644) // as the shared one has
	sum, err := checkDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, sum.Labelled, sum.Boxes
}

// Dataset versions: imported from a YOLO folder, grown by labelled images
// from the labelling queue, exported and imported again to the same
// digest; each bad input refused with no version made.
func TestCLIDatasets(t *testing.T) {
	e := startServer(t)
	dir, images, boxes := baseDataset(t)

	e.fails(2, "has no label file labels/", "dataset", "import", "metal-tags", dir)
	ghost := dataset(t, map[string]string{"a": "0 0.5 0.5 0.1 0.1\n"}, "names:\n  0: scratch\n")
	os.WriteFile(filepath.Join(ghost, "labels", "ghost.txt"), []byte("0 0.5 0.5 0.1 0.1\n"), 0o644)
	e.fails(2, "labels/ghost.txt has no image", "dataset", "import", "ghost", ghost)
	bad := dataset(t, map[string]string{"a": "0 0.5 0.5 0 0.1\n"}, "names:\n  0: scratch\n")
	e.fails(2, "a.txt line 1", "dataset", "import", "bad", bad)
	if dvs := e.datasetVersions(""); len(dvs) != 0 {
		t.Fatalf("refused imports made versions: %+v", dvs)
	}

	v1 := e.datasetJSON("dataset", "import", "metal-tags", dir, "--leave-out-unlabelled")
	if v1.Ref() != "metal-tags@1" || v1.Images != images || v1.Boxes != boxes || v1.Val == 0 || v1.Train == 0 || v1.Bytes == 0 {
		t.Fatalf("import: %+v, want %d images and %d boxes in both splits", v1, images, boxes)
	}
	t.Logf("metal-tags@1: %d images, %d bytes of images, digest %s", v1.Images, v1.Bytes, v1.Digest)
	if out := e.ok("dataset", "import", "metal-tags", dir, "--leave-out-unlabelled"); !strings.Contains(out, "unchanged: the same content is metal-tags@1") {
		t.Errorf("importing the same again: %q", out)
	}
	checkShots(t, e, "metal-tags@1")

	// Images that came back from a device and were labelled.
	var mv vise.ModelVersion
	json.Unmarshal([]byte(e.ok("model", "register", "metal-tags", sample(t, "sample-tiny.onnx"), "-o", "json")), &mv)
	e.component("vise.reporter", "1.0.0", labelResults(t, mv.Artifact.SHA256), "  run: {script: \"exec ./artifacts/run.sh\"}\n")
	e.startAgent("cam-1", "")
	e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.reporter"))
	e.waitFor("three images in the labelling queue", 60*time.Second, func() bool { return len(e.labels()) == 3 })
	e.fails(2, "no labelled images match (all labelled)", "dataset", "create", "metal-tags", "--labelled", "--base", "metal-tags@1")
	e.ok("label", "save", "cam-1", "m-defect", "--accept")
	e.ok("label", "save", "cam-1", "m-sample", "--no-defect")
	e.ok("label", "save", "cam-1", "m-low", "--skip")
	e.fails(2, "no labelled images match (since", "dataset", "create", "metal-tags", "--labelled", "--base", "metal-tags@1", "--device", "cam-9", "--since", "1h")
	e.fails(2, "say --labelled", "dataset", "create", "metal-tags", "--base", "metal-tags@1")
	if dvs := e.datasetVersions("metal-tags"); len(dvs) != 1 {
		t.Fatalf("a refused create made a version: %d versions", len(dvs))
	}
	v2 := e.datasetJSON("dataset", "create", "metal-tags", "--labelled", "--base", "metal-tags@1", "--since", "1h")
	if v2.Ref() != "metal-tags@2" || v2.Images != images+2 || v2.Boxes != boxes+1 || v2.Base != "metal-tags@1" {
		t.Errorf("create: %+v, want the base plus 2 labelled images and 1 box", v2)
	}
	if got := e.datasetJSON("dataset", "show", "metal-tags"); got.Digest != v2.Digest {
		t.Errorf("show without a version: %s, want the newest %s", got.Ref(), v2.Ref())
	}
	e.fails(3, "no dataset version metal-tags@9", "dataset", "show", "metal-tags@9")

	// Export, check as training would, and import again: the same digest.
	out := filepath.Join(t.TempDir(), "export")
	e.ok("dataset", "export", "metal-tags@2", out)
	sum, err := checkDataset(out)
	if err != nil || sum.Images != images+2 || sum.Labelled != images+2 || sum.Boxes != boxes+1 {
		t.Errorf("exported dataset: %+v %v", sum, err)
	}
	var m vise.DatasetManifest
	b, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	json.Unmarshal(b, &m)
	provenance := 0
	for _, it := range m.Items {
		if it.Source.Device == "cam-1" && it.Source.Model != nil && it.Source.Model.SHA256 == mv.Artifact.SHA256 && it.Source.LabelledBy == "admin" &&
			it.Source.PartID == "part-"+it.Source.MsgID && it.Source.ComponentVersion == "1.0.0" {
			provenance++
		}
	}
	if provenance != 2 {
		t.Errorf("%d items carry their device, model, part id, component version and labeller, want 2", provenance)
	}
	e.fails(4, "is not empty", "dataset", "export", "metal-tags@2", out)
	again := e.datasetJSON("dataset", "import", "copy", out)
	if again.Digest != v2.Digest {
		out2 := filepath.Join(t.TempDir(), "again")
		e.ok("dataset", "export", "copy@1", out2)
		var m2 vise.DatasetManifest
		b, _ := os.ReadFile(filepath.Join(out2, "manifest.json"))
		json.Unmarshal(b, &m2)
		t.Errorf("re-imported export: digest %s, want %s (content-addressed); manifest (-exported +re-imported):\n%s", again.Digest, v2.Digest, cmp.Diff(m, m2))
	}
}

// checkShots fails if a camera shot has images in both splits.
func checkShots(t *testing.T, e *env, ref string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "x")
	e.ok("dataset", "export", ref, out)
	var m vise.DatasetManifest
	b, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: manifest %d bytes", ref, len(b))
	split := map[string]string{}
	for _, it := range m.Items {
		shot := datasets.Shot(it.Name)
		if s, ok := split[shot]; ok && s != it.Split {
			t.Errorf("shot %s is in both splits", shot)
		}
		split[shot] = it.Split
	}
}

// A model version's lineage names its dataset version: given to register,
// refused unless written NAME@VERSION, and shown by vise model show.
func TestModelLineageDataset(t *testing.T) {
	e := startServer(t)
	model := sample(t, "sample-tiny.onnx")
	for _, bad := range []string{"metal-tags", "metal-tags@0", "/srv/tags"} {
		e.fails(2, "lineage dataset", "model", "register", "tags", model, "--dataset", bad)
	}
	e.ok("model", "register", "tags", model, "--dataset", "metal-tags@2", "--dataset-digest", strings.Repeat("d", 64))
	if out := e.ok("model", "show", "tags", "1"); !strings.Contains(out, "dataset metal-tags@2 (digest "+strings.Repeat("d", 64)+")") {
		t.Errorf("vise model show:\n%s", out)
	}
	var vs []vise.ModelVersion
	json.Unmarshal([]byte(e.ok("model", "show", "tags", "-o", "json")), &vs)
	if len(vs) != 1 || vs[0].Lineage.Dataset != "metal-tags@2" {
		t.Errorf("the API's lineage: %+v", vs)
	}
}
