package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

func (a *app) datasetImportCmd() *cobra.Command {
	var leaveOut bool
	c := &cobra.Command{
		Use:   "import NAME DIR",
		Short: "Make a new version of a YOLO-layout folder (images/, labels/, data.yaml; val.txt keeps a split)",
		Args:  exactArgs(2, "a dataset name and a folder"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := vise.ValidateName("dataset", args[0]); err != nil {
				return fmt.Errorf("%w: %v", errUsage, vise.ErrorMessage(err))
			}
			req, paths, err := readYOLO(args[1], leaveOut)
			if err != nil {
				return err
			}
			cl := a.client()
			for i := range req.Items {
				art, err := cl.UploadFile(c.Context(), paths[i], nil)
				if err != nil {
					return err
				}
				req.Items[i].SHA256 = art.SHA256
			}
			dv, created, err := cl.ImportDataset(c.Context(), args[0], *req)
			if err != nil {
				return err
			}
			return a.printDataset(dv, created)
		},
	}
	c.Flags().BoolVar(&leaveOut, "leave-out-unlabelled", false, "import without the images that have no label file (by default they are an error: an empty label file means no defect)")
	return a.addOutput(c)
}

// readYOLO reads a YOLO folder into an import request (images not yet
// uploaded) and the image files' paths. A label file without its image,
// or an image without its label file, is an error naming them.
func readYOLO(dir string, leaveOut bool) (*vise.ImportDatasetRequest, []string, error) {
	classes, err := datasetClasses(dir)
	if err != nil {
		return nil, nil, err
	}
	images, labels, err := yoloFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	for stem := range labels {
		if images[stem] == "" {
			problems = append(problems, "labels/"+stem+".txt has no image (images/"+stem+".jpg or .png)")
		}
	}
	val := readList(filepath.Join(dir, "val.txt"))
	sources, err := readSources(dir)
	if err != nil {
		return nil, nil, err
	}
	req := &vise.ImportDatasetRequest{Classes: classes}
	var paths []string
	for _, stem := range sortedKeys(images) {
		name := images[stem]
		if !labels[stem] {
			if !leaveOut {
				problems = append(problems, "images/"+name+" has no label file labels/"+stem+".txt")
			}
			continue
		}
		boxes, err := readBoxesYOLO(filepath.Join(dir, "labels", stem+".txt"), len(classes))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		it := vise.DatasetItem{Name: name, Boxes: boxes, Source: vise.DatasetSource{Imported: name}}
		if src, ok := sources[name]; ok {
			it.Source = src // an export's provenance comes back with it
		}
		if val != nil {
			it.Split = vise.SplitTrain
			if val[name] {
				it.Split = vise.SplitVal
			}
		}
		req.Items = append(req.Items, it)
		paths = append(paths, filepath.Join(dir, "images", name))
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		more := ""
		if len(problems) > 5 {
			more = fmt.Sprintf(" (and %d more)", len(problems)-5)
			problems = problems[:5]
		}
		return nil, nil, vise.Errorf(vise.CodeInvalid, "dataset %s: %s%s; an empty label file means no defect; pass --leave-out-unlabelled to import without unlabelled images",
			dir, strings.Join(problems, "; "), more)
	}
	if len(req.Items) == 0 {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "dataset %s has no labelled images to import; no version was made", dir)
	}
	return req, paths, nil
}

// yoloFiles maps image stems to file names, and the stems of label files.
func yoloFiles(dir string) (images map[string]string, labels map[string]bool, err error) {
	images, labels = map[string]string{}, map[string]bool{}
	imgs, err := os.ReadDir(filepath.Join(dir, "images"))
	if err != nil {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "dataset %s has no readable images/ folder (YOLO layout: images/ and labels/): %w", dir, err)
	}
	for _, f := range imgs {
		ext := strings.ToLower(filepath.Ext(f.Name()))
		if !f.IsDir() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png") {
			images[strings.TrimSuffix(f.Name(), filepath.Ext(f.Name()))] = f.Name()
		}
	}
	lbls, err := os.ReadDir(filepath.Join(dir, "labels"))
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "dataset %s: labels/: %w", dir, err)
	}
	for _, f := range lbls {
		if !f.IsDir() && strings.HasSuffix(f.Name(), ".txt") {
			labels[strings.TrimSuffix(f.Name(), ".txt")] = true
		}
	}
	return images, labels, nil
}

// readBoxesYOLO parses one label file, checked as 'dataset check' does.
func readBoxesYOLO(path string, classes int) ([]vise.DatasetBox, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	boxes := []vise.DatasetBox{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		b, err := vise.ParseYOLOBox(fields, classes)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", filepath.Base(path), line, err)
		}
		boxes = append(boxes, b)
	}
	return boxes, sc.Err()
}

// readSources reads the provenance of an exported version's images from
// its manifest.json, if there is one.
func readSources(dir string) (map[string]vise.DatasetSource, error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	var m vise.DatasetManifest
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "dataset %s: manifest.json: %w (delete it to import without the provenance)", dir, err)
	}
	out := map[string]vise.DatasetSource{}
	for _, it := range m.Items {
		out[it.Name] = it.Source
	}
	return out, nil
}

// readList reads a file of image names, one a line; nil if there is none.
func readList(path string) map[string]bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		out[filepath.Base(l)] = true
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
