package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/onnx"
)

// Report is what `vise-infer eval -o json` prints, in the fields used here.
type Report struct {
	Images  int     `json:"images"`
	Labels  int     `json:"labels"`
	MAP50   float64 `json:"map50"`
	MAP5095 float64 `json:"map50_95"`
}

// Evaluate runs vise-infer eval of model on dataset (only the images named
// in list, if given). The benchmark's classes must be among the model's:
// a class the model cannot detect would score zero and hide the real
// comparison, so it is an error naming the classes.
func Evaluate(ctx context.Context, c Config, model, dataset, list string) (Report, error) {
	c = c.withDefaults()
	if err := CoversClasses(model, dataset); err != nil {
		return Report{}, err
	}
	args := []string{"eval", "--model", model, "--dataset", dataset, "-o", "json"}
	if c.ORTLib != "" {
		args = append(args, "--ort-lib", c.ORTLib)
	}
	if list != "" {
		args = append(args, "--list", list)
	}
	cmd := exec.Command(c.Infer, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := runGroup(ctx, cmd, c.Grace)
	var r Report
	if err == nil {
		err = json.Unmarshal(stdout.Bytes(), &r)
	}
	if err != nil {
		// vise-infer failing at run time is not bad input (that is checked above).
		return r, vise.Errorf(vise.CodeInternal, "evaluation of %s on %s failed: %w: %s", filepath.Base(model), dataset, err, lastLines(stderr.String(), 5))
	}
	if r.Images == 0 {
		return r, vise.Errorf(vise.CodeInvalid, "evaluation of %s on %s scored no images: the dataset needs images/ and labels/ (YOLO layout)", filepath.Base(model), dataset)
	}
	return r, nil
}

// CoversClasses checks that every class of the dataset (data.yaml names)
// is one the model detects, under the same number.
func CoversClasses(model, dataset string) error {
	want, err := Classes(dataset)
	if err != nil {
		return err
	}
	f, err := os.Open(model)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := onnx.Read(f)
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "model %s: %w", filepath.Base(model), err)
	}
	have := info.ClassNames
	if want == nil || have == nil { // no names on one side: numbered classes, nothing to compare
		return nil
	}
	var missing []string
	for i, n := range want {
		if i >= len(have) || have[i] != n {
			missing = append(missing, fmt.Sprintf("%d: %s", i, n))
		}
	}
	if len(missing) > 0 {
		return vise.Errorf(vise.CodeInvalid, "dataset %s has classes the model %s does not detect (%s; the model knows %s): evaluate on a dataset of the model's classes, or train on one that has them",
			dataset, filepath.Base(model), strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	return nil
}

// Classes reads a YOLO dataset's class names from its data.yaml; nil when
// it has none (one unnamed class).
func Classes(dataset string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dataset, "images")); err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "dataset %s has no images/ folder (YOLO layout: images/ and labels/): %w", dataset, err)
	}
	b, err := os.ReadFile(filepath.Join(dataset, "data.yaml"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	var d struct {
		Names map[int]string `yaml:"names"`
	}
	if err == nil {
		err = yaml.Unmarshal(b, &d)
	}
	if err != nil || len(d.Names) == 0 {
		return nil, vise.Errorf(vise.CodeInvalid, "dataset %s: data.yaml needs names (0: scratch, ...): %w", dataset, err)
	}
	keys := make([]int, 0, len(d.Names))
	for k := range d.Names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	names := make([]string, len(keys))
	for i, k := range keys {
		if k != i {
			return nil, vise.Errorf(vise.CodeInvalid, "dataset %s: data.yaml names must be numbered 0 to %d", dataset, len(keys)-1)
		}
		names[i] = d.Names[k]
	}
	return names, nil
}
