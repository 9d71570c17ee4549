package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/ort"
	"github.com/vise-edge/vise/quantize"
)

var (
	shipped, _ = filepath.Abs("../../samples/models/metal-tags.onnx")
	valList, _ = filepath.Abs("../../samples/models/metal-tags.val.txt")
	samples, _ = filepath.Abs("../../samples/images")
	sharedDS   = filepath.Join(filepath.Dir(filepath.Dir(samples)), "..", "shared", "datasets", "metal-tags")
)

// calibrationSet links the sample images that are not in the shipped
// model's validation split into a folder (n of them; 0 for all).
func calibrationSet(t *testing.T, n int) string {
	t.Helper()
	val, err := os.ReadFile(valList)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(samples)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	added := 0
	for _, e := range entries {
		if strings.Contains(string(val), e.Name()) || (n > 0 && added == n) {
			continue
		}
		if err := os.Symlink(filepath.Join(samples, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
		added++
	}
	return dir
}

func quantizeModel(t *testing.T, calib string, extra ...string) (string, QuantizeReport, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "int8.onnx")
	args := append([]string{"quantize", "--model", shipped, "--calibration", calib, "--out", out, "--ort-lib", ortLib, "-o", "json"}, extra...)
	stdout, stderr, code := vi(t, args...)
	if code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	var rep QuantizeReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("quantize -o json: %v\n%s", err, stdout)
	}
	return out, rep, stderr
}

func evalMAP(t *testing.T, m, dataset string) EvalReport {
	t.Helper()
	stdout, stderr, code := vi(t, "eval", "--model", m, "--dataset", dataset, "--list", valList, "--ort-lib", ortLib, "-o", "json")
	if code != 0 {
		t.Fatalf("eval %s: exit %d: %s", m, code, stderr)
	}
	var r EvalReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// The INT8 model of the shipped one keeps its accuracy on the shared
// validation split (mAP50 within 0.01), records how it was made, and is
// refused when quantized again.
func TestQuantizeKeepsAccuracy(t *testing.T) {
	needORT(t)
	if _, err := os.Stat(filepath.Join(sharedDS, "images")); err != nil {
		t.Skipf("the shared metal-tags dataset is not at %s: cannot measure accuracy on its validation split", sharedDS)
	}
	calib := calibrationSet(t, 0)
	out, rep, _ := quantizeModel(t, calib)
	if rep.Method != quantize.Percentile || rep.CalibrationImages != 16 || len(rep.CalibrationDigest) != 64 || rep.QuantizedNodes < 25 || len(rep.Warnings) != 0 {
		t.Errorf("report = %+v", rep)
	}
	c, err := infer.ReadContract(out, 640)
	if err != nil {
		t.Fatal(err)
	}
	if c.Input != "images" || c.Output != "output0" || c.Width != 320 || len(c.Names) != 1 || c.Names[0] != "scratch" {
		t.Errorf("contract of the INT8 model = %+v", c)
	}
	float, int8 := evalMAP(t, shipped, sharedDS), evalMAP(t, out, sharedDS)
	t.Logf("mAP50 float %.4f int8 %.4f; mAP50-95 float %.4f int8 %.4f", float.MAP50, int8.MAP50, float.MAP5095, int8.MAP5095)
	if int8.Images != 40 || int8.MAP50 < float.MAP50-0.01 {
		t.Errorf("int8 mAP50 %.4f on %d images; float %.4f: more than 0.01 lost", int8.MAP50, int8.Images, float.MAP50)
	}

	_, stderr, code := vi(t, "quantize", "--model", out, "--calibration", calib, "--out", out+".again", "--ort-lib", ortLib)
	if code != 1 || !strings.Contains(stderr, "already quantized") {
		t.Errorf("quantizing the INT8 model: exit %d, %s", code, stderr)
	}
}

// bench --compare times both models in one run and reports the speed-up.
func TestBenchCompare(t *testing.T) {
	needORT(t)
	stdout, stderr, code := vi(t, "bench", "--model", shipped, "--compare", model, "--images", samples, "--frames", "20", "--profile", "--ort-lib", ortLib, "-o", "json")
	if code != 0 {
		t.Fatalf("bench --compare: exit %d: %s", code, stderr)
	}
	var r BenchReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	c := r.Compare
	if c == nil || c.Model != "sample-tiny.onnx" || c.Frames != 20 || c.BareFPS <= 0 || c.ModelBareFPS <= 0 ||
		c.Speedup != c.ModelBareFPS/c.BareFPS {
		t.Fatalf("compare = %+v", c)
	}
	// The tiny placeholder has a fraction of the shipped model's work.
	if c.Speedup >= 1 {
		t.Errorf("metal-tags.onnx measured %.2fx as fast as sample-tiny.onnx; want slower", c.Speedup)
	}
	// --profile: the shipped model's time is mostly its convolutions, and
	// each model's shares add up to all of its kernel time.
	p := r.Profile
	if p == nil || p.Frames != 20 || len(p.Model) == 0 || len(p.Compare) == 0 {
		t.Fatalf("profile = %+v", p)
	}
	if p.Model[0].Op != "Conv" || p.Model[0].Share < 0.5 || p.Model[0].Nodes != 25 {
		t.Errorf("metal-tags.onnx profile starts with %+v; want its 25 Convs taking most of the time", p.Model[0])
	}
	for name, ops := range map[string][]ort.OpTime{"model": p.Model, "compare": p.Compare} {
		var sum float64
		for _, o := range ops {
			sum += o.Share
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("%s profile shares add up to %g", name, sum)
		}
	}
}

// Bad calibration inputs and models are refused with what to do; a single
// image is a warning, and the model it makes is valid.
func TestQuantizeBadInputs(t *testing.T) {
	needORT(t)
	empty := t.TempDir()
	notImages := t.TempDir()
	os.WriteFile(filepath.Join(notImages, "notes.txt"), []byte("shift 3"), 0o644)
	os.WriteFile(filepath.Join(notImages, "labels.csv"), []byte("a,b"), 0o644)
	corrupt := calibrationSet(t, 2)
	os.WriteFile(filepath.Join(corrupt, "broken.jpg"), []byte("not a jpeg"), 0o644)
	calib := calibrationSet(t, 2)
	out := filepath.Join(t.TempDir(), "int8.onnx")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"empty folder", []string{"--model", shipped, "--calibration", empty}, 1, "is empty: put 20-200 JPEG or PNG images"},
		{"no images", []string{"--model", shipped, "--calibration", notImages}, 1, "has no JPEG or PNG images (.jpg, .jpeg, .png), only 2 other files (labels.csv, notes.txt)"},
		{"missing folder", []string{"--model", shipped, "--calibration", "/nonexistent"}, 1, "calibration folder: open /nonexistent"},
		{"broken image", []string{"--model", shipped, "--calibration", corrupt}, 1, "broken.jpg"},
		{"off the contract", []string{"--model", wrongShapes(t), "--calibration", calib}, 1, "does not fit the YOLOv8 contract"},
		{"no --out", []string{"--model", shipped, "--calibration", calib, "--out", ""}, 2, "pass --out"},
		{"unknown method", []string{"--model", shipped, "--calibration", calib, "--method", "entropy"}, 2, `unknown calibration method "entropy"`},
		{"weight bits", []string{"--model", shipped, "--calibration", calib, "--weight-bits", "4"}, 2, "--weight-bits 4: use 7 or 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"quantize", "--ort-lib", ortLib, "--out", out}, tt.args...)
			_, stderr, code := vi(t, args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d containing %q", code, stderr, tt.code, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused run left %s", out)
			}
		})
	}

	t.Run("one image", func(t *testing.T) {
		m, rep, stderr := quantizeModel(t, calibrationSet(t, 1), "--method", "minmax")
		if !strings.Contains(stderr, "calibrated on a single image") || len(rep.Warnings) != 1 || rep.Method != quantize.MinMax {
			t.Errorf("no warning for one image: stderr %q, report %+v", stderr, rep)
		}
		// Valid: it runs and finds the scratches the float model finds on a
		// labelled sample image.
		ds := t.TempDir()
		for _, n := range []string{"tag-a", "tag-b"} {
			copyFile(t, filepath.Join(testdata, n+".jpg"), filepath.Join(ds, "images", n+".jpg"))
			copyFile(t, filepath.Join(testdata, n+".txt"), filepath.Join(ds, "labels", n+".txt"))
		}
		stdout, stderr, code := vi(t, "eval", "--model", m, "--dataset", ds, "--ort-lib", ortLib, "-o", "json")
		var r EvalReport
		if code != 0 || json.Unmarshal([]byte(stdout), &r) != nil || r.Images != 2 || r.MAP50 <= 0 {
			t.Errorf("eval of the one-image model: exit %d, %s %s", code, stdout, stderr)
		}
	})
}
