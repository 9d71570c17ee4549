package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

// dataset writes a YOLO-layout dataset: image name -> label text ("" for
// no label file).
func dataset(t *testing.T, labels map[string]string, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	os.MkdirAll(filepath.Join(dir, "labels"), 0o755)
	img, err := os.ReadFile(filepath.Join("..", "..", "samples", "images", "image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for name, label := range labels {
		os.WriteFile(filepath.Join(dir, "images", name+".jpg"), img, 0o644)
		if label != "" {
			os.WriteFile(filepath.Join(dir, "labels", name+".txt"), []byte(label), 0o644)
		}
	}
	if yaml != "" {
		os.WriteFile(filepath.Join(dir, "data.yaml"), []byte(yaml), 0o644)
	}
	return dir
}

func TestCheckDataset(t *testing.T) {
	good := "0 0.5 0.5 0.1 0.2\n\n0 0.25 0.75 0.05 0.05\n"
	sum, err := checkDataset(dataset(t, map[string]string{"a": good, "b": good, "c": ""}, "names:\n  0: scratch\n"))
	if err != nil || sum.Images != 3 || sum.Labelled != 2 || sum.Boxes != 4 || sum.Classes[0] != "scratch" {
		t.Fatalf("good dataset: %+v %v", sum, err)
	}
	if sum, err := checkDataset(filepath.Join("..", "..", "samples")); err != nil || sum.Images != 20 || sum.Labelled != 20 {
		t.Errorf("the committed sample: %+v %v", sum, err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		yaml   string
		want   string
	}{
		{"empty", map[string]string{}, "", "is empty: no .jpg or .png"},
		{"no labels", map[string]string{"a": "", "b": ""}, "", "has 2 images but no labels"},
		{"short line", map[string]string{"a": "0 0.5 0.5 0.1\n"}, "", "a.txt line 1: 4 values, want 5"},
		{"unknown class", map[string]string{"a": good + "3 0.5 0.5 0.1 0.1\n"}, "", `a.txt line 4: class "3" is not one of 0..0`},
		{"pixels not normalised", map[string]string{"a": "0 120 80 10 10\n"}, "", `cx "120" is not a normalised coordinate`},
		{"zero width", map[string]string{"a": "0 0.5 0.5 0 0.1\n"}, "", `w "0" is not a normalised`},
		{"not a number", map[string]string{"a": "0 0.5 x 0.1 0.1\n"}, "", `cy "x"`},
		{"NaN", map[string]string{"a": "0 0.5 0.5 NaN 0.1\n"}, "", `w "NaN" is not a normalised`},
		{"bad yaml", map[string]string{"a": good}, "names: [", "data.yaml needs names"},
		{"gap in names", map[string]string{"a": good}, "names:\n  0: a\n  2: b\n", "numbered 0 to 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkDataset(dataset(t, tc.labels, tc.yaml))
			if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an invalid error with %q", err, tc.want)
			}
		})
	}
	if _, err := checkDataset(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no readable images/ folder") {
		t.Errorf("no images/: %v", err)
	}
}

// vise train refuses a bad dataset before it starts Python.
func TestTrainRefusesBadDataset(t *testing.T) {
	e := startServer(t)
	dir := dataset(t, map[string]string{"a": "0 0.5 0.5\n"}, "")
	e.fails(2, "a.txt line 1: 3 values", "train", "--dataset", dir, "--python", "/nonexistent/python3")
}
