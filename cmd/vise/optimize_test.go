package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

// `vise model optimize` quantizes a registered float version with the real
// vise-infer and ONNX Runtime, evaluates both, and registers the INT8 model
// with lineage to its parent; one that loses accuracy (calibrated on a
// black frame) is registered as Rejected with both numbers.
func TestCLIModelOptimize(t *testing.T) {
	lib := os.Getenv("VISE_ORT_LIB")
	if lib == "" {
		if os.Getenv("VISE_REQUIRE_ORT") != "" {
			t.Fatal("VISE_REQUIRE_ORT is set but VISE_ORT_LIB is not")
		}
		t.Skip("VISE_ORT_LIB is not set (make test fetches ONNX Runtime into .cache/onnxruntime)")
	}
	e := startServer(t)
	infer := buildInfer(t)
	shipped, _ := filepath.Abs("../../samples/models/metal-tags.onnx")
	samples, _ := filepath.Abs("../../samples")
	val, _ := filepath.Abs("../../samples/models/metal-tags.val.txt")
	e.ok("model", "register", "metal-tags", shipped, "--metric", "map50=0.863", "--approve")

	calib := t.TempDir()
	list, _ := os.ReadFile(val)
	entries, _ := os.ReadDir(filepath.Join(samples, "images"))
	for _, en := range entries {
		if !strings.Contains(string(list), en.Name()) {
			os.Symlink(filepath.Join(samples, "images", en.Name()), filepath.Join(calib, en.Name()))
		}
	}
	optimize := func(dir string, extra ...string) optimizeResult {
		t.Helper()
		args := append([]string{"model", "optimize", "metal-tags", "1", "--int8", "--calibration", dir, "--dataset", samples,
			"--infer", infer, "--ort-lib", lib, "-o", "json"}, extra...)
		out := e.ok(args...)
		var res optimizeResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Registered == nil {
			t.Fatalf("optimize -o json: %v\n%s", err, out)
		}
		return res
	}

	res := optimize(calib, "--list", val) // the 4 sample images of the validation split
	mv, l := res.Registered, res.Registered.Lineage
	t.Logf("mAP50 int8 %.4f parent %.4f on %d images", res.Int8.MAP50, res.Parent.MAP50, res.Int8.Images)
	if mv.Version != 2 || mv.Approval.Status != vise.PendingManualApproval || l.ParentVersion != 1 || l.Variant != vise.VariantInt8 ||
		l.QuantizationMethod != "percentile" || l.CalibrationDigest != res.Quantize.CalibrationDigest || len(l.CalibrationDigest) != 64 {
		t.Errorf("registered %d %+v, lineage %+v", mv.Version, mv.Approval, l)
	}
	if res.Int8.Images != 4 || mv.Metrics["map50"] != res.Int8.MAP50 || mv.Metrics["parent_map50"] != res.Parent.MAP50 || res.Parent.MAP50 == 0 {
		t.Errorf("metrics %v from evaluations %+v %+v", mv.Metrics, res.Int8, res.Parent)
	}
	if out := e.ok("model", "show", "metal-tags", "2"); !strings.Contains(out, "int8 of version 1, calibration percentile") {
		t.Errorf("model show:\n%s", out)
	}

	black := t.TempDir()
	f, _ := os.Create(filepath.Join(black, "black.png"))
	png.Encode(f, image.NewGray(image.Rect(0, 0, 450, 300)))
	f.Close()
	res = optimize(black) // all 20 sample images
	mv = res.Registered
	want := fmt.Sprintf("mAP50 %.4f is %.4f below its parent version 1's %.4f", res.Int8.MAP50, res.Parent.MAP50-res.Int8.MAP50, res.Parent.MAP50)
	if mv.Version != 3 || mv.Approval.Status != vise.Rejected || !strings.Contains(mv.Approval.Reason, want) || res.Int8.Images != 20 {
		t.Errorf("calibrated on a black frame: version %d %+v; want Rejected with %q", mv.Version, mv.Approval, want)
	}

	e.fails(2, "--int8", "model", "optimize", "metal-tags", "1", "--calibration", calib, "--dataset", samples)
	e.fails(2, "--calibration DIR", "model", "optimize", "metal-tags", "1", "--int8", "--dataset", samples)
	e.fails(2, "is already INT8: optimize its float parent, version 1", "model", "optimize", "metal-tags", "2", "--int8",
		"--calibration", calib, "--dataset", samples, "--infer", infer)
	e.fails(3, "no version 9", "model", "optimize", "metal-tags", "9", "--int8", "--calibration", calib, "--dataset", samples, "--infer", infer)
	e.fails(2, "vise-infer quantize: calibration folder", "model", "optimize", "metal-tags", "1", "--int8", "--calibration", t.TempDir(),
		"--dataset", samples, "--infer", infer, "--ort-lib", lib)
}
