package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vise-edge/vise"
)

// datasetSummary is what checkDataset found.
type datasetSummary struct {
	Images, Labelled, Boxes int
	Classes                 []string
}

// checkDataset reads a YOLO-layout dataset (images/, labels/, optional
// data.yaml with names) before any training starts, so an empty folder or
// a malformed label is reported at once, by file and line.
func checkDataset(dir string) (datasetSummary, error) {
	var sum datasetSummary
	imgs, err := os.ReadDir(filepath.Join(dir, "images"))
	if err != nil {
		return sum, vise.Errorf(vise.CodeInvalid, "dataset %s has no readable images/ folder (YOLO layout: images/ and labels/): %w", dir, err)
	}
	if sum.Classes, err = datasetClasses(dir); err != nil {
		return sum, err
	}
	var problems []string
	for _, f := range imgs {
		ext := strings.ToLower(filepath.Ext(f.Name()))
		if f.IsDir() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			continue
		}
		sum.Images++
		label := filepath.Join(dir, "labels", strings.TrimSuffix(f.Name(), filepath.Ext(f.Name()))+".txt")
		n, errs := checkLabels(label, len(sum.Classes))
		if os.IsNotExist(errs.err) {
			continue // unlabelled: left out of training, like the trainer does
		}
		sum.Labelled++
		sum.Boxes += n
		problems = append(problems, errs.lines...)
		if errs.err != nil {
			problems = append(problems, errs.err.Error())
		}
	}
	switch {
	case sum.Images == 0:
		return sum, vise.Errorf(vise.CodeInvalid, "dataset %s is empty: no .jpg or .png files in images/", dir)
	case len(problems) > 0:
		more := ""
		if len(problems) > 5 {
			more = fmt.Sprintf(" (and %d more)", len(problems)-5)
			problems = problems[:5]
		}
		return sum, vise.Errorf(vise.CodeInvalid, "dataset %s has malformed labels: %s%s", dir, strings.Join(problems, "; "), more)
	case sum.Labelled == 0:
		return sum, vise.Errorf(vise.CodeInvalid, "dataset %s has %d images but no labels: put one labels/NAME.txt per image (class cx cy w h per line)", dir, sum.Images)
	}
	return sum, nil
}

// datasetClasses reads the class names from data.yaml; without it, one
// class.
func datasetClasses(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "data.yaml"))
	if os.IsNotExist(err) {
		return []string{"class0"}, nil
	}
	var d struct {
		Names map[int]string `yaml:"names"`
	}
	if err == nil {
		err = yaml.Unmarshal(b, &d)
	}
	if err != nil || len(d.Names) == 0 {
		return nil, vise.Errorf(vise.CodeInvalid, "dataset %s: data.yaml needs names (0: scratch, ...): %w", dir, err)
	}
	names := make([]string, len(d.Names))
	for i := range names {
		n, ok := d.Names[i]
		if !ok {
			return nil, vise.Errorf(vise.CodeInvalid, "dataset %s: data.yaml names must be numbered 0 to %d", dir, len(d.Names)-1)
		}
		names[i] = n
	}
	return names, nil
}

type labelErrors struct {
	lines []string
	err   error
}

// checkLabels checks one YOLO label file: "class cx cy w h" per line,
// coordinates normalised to 0..1.
func checkLabels(path string, classes int) (boxes int, errs labelErrors) {
	f, err := os.Open(path)
	if err != nil {
		errs.err = err
		return 0, errs
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if why := badBox(fields, classes); why != "" {
			errs.lines = append(errs.lines, fmt.Sprintf("%s line %d: %s", filepath.Base(path), line, why))
			continue
		}
		boxes++
	}
	if err := sc.Err(); err != nil {
		errs.lines = append(errs.lines, fmt.Sprintf("%s: %v", filepath.Base(path), err))
	}
	return boxes, errs
}

func badBox(fields []string, classes int) string {
	if _, err := vise.ParseYOLOBox(fields, classes); err != nil {
		return err.Error()
	}
	return ""
}
