package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
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
		return nil, nil, vise.Errorf(vise.CodeInvalid, "dataset %s has no readable images/ folder (YOLO layout: images/ and labels/): %v", dir, err)
	}
	for _, f := range imgs {
		ext := strings.ToLower(filepath.Ext(f.Name()))
		if !f.IsDir() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png") {
			images[strings.TrimSuffix(f.Name(), filepath.Ext(f.Name()))] = f.Name()
		}
	}
	lbls, err := os.ReadDir(filepath.Join(dir, "labels"))
	if err != nil && !os.IsNotExist(err) {
		return nil, nil, vise.Errorf(vise.CodeInvalid, "dataset %s: labels/: %v", dir, err)
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
		if why := badBox(fields, classes); why != "" {
			return nil, fmt.Errorf("%s line %d: %s", filepath.Base(path), line, why)
		}
		var v [5]float64
		for i, s := range fields {
			v[i], _ = strconv.ParseFloat(s, 64)
		}
		boxes = append(boxes, vise.DatasetBox{Class: int(v[0]), CX: v[1], CY: v[2], W: v[3], H: v[4]})
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
		return nil, vise.Errorf(vise.CodeInvalid, "dataset %s: manifest.json: %v (delete it to import without the provenance)", dir, err)
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

func (a *app) datasetExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export NAME[@VERSION] DIR",
		Short: "Write a dataset version out in YOLO layout: images/, labels/, data.yaml, train.txt, val.txt, manifest.json",
		Args:  exactArgs(2, "a dataset (NAME or NAME@VERSION) and a new folder"),
		RunE: func(c *cobra.Command, args []string) error {
			dv, err := a.resolveDataset(c, args[0])
			if err != nil {
				return err
			}
			if err := exportDataset(c.Context(), a.client(), dv, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "exported %s (%d images, %d boxes) to %s\n", dv.Ref(), dv.Images, dv.Boxes, args[1])
			return nil
		},
	}
}

func exportDataset(ctx context.Context, cl *client.Client, dv *vise.DatasetVersion, dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return vise.Errorf(vise.CodeConflict, "%s is not empty: export into a new folder", dir)
	}
	for _, sub := range []string{"images", "labels"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return vise.Errorf(vise.CodeInvalid, "cannot write the export: %v", err)
		}
	}
	raw, err := download(ctx, cl, dv.Digest, filepath.Join(dir, "manifest.json"), true)
	if err != nil {
		return err
	}
	var m vise.DatasetManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("manifest of %s: %w", dv.Ref(), err)
	}
	lists := map[string]*strings.Builder{vise.SplitTrain: {}, vise.SplitVal: {}}
	for _, it := range m.Items {
		if _, err := download(ctx, cl, it.SHA256, filepath.Join(dir, "images", it.Name), false); err != nil {
			return err
		}
		var sb strings.Builder
		for _, b := range it.Boxes {
			fmt.Fprintf(&sb, "%d %.6f %.6f %.6f %.6f\n", b.Class, b.CX, b.CY, b.W, b.H)
		}
		stem := strings.TrimSuffix(it.Name, filepath.Ext(it.Name))
		if err := os.WriteFile(filepath.Join(dir, "labels", stem+".txt"), []byte(sb.String()), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(lists[it.Split], "images/"+it.Name)
	}
	yaml := "# " + dv.Ref() + " (digest " + dv.Digest + "), exported by vise\npath: .\ntrain: train.txt\nval: val.txt\nnames:\n"
	for i, c := range m.Classes {
		yaml += fmt.Sprintf("  %d: %s\n", i, strconv.Quote(c))
	}
	for name, content := range map[string]string{"data.yaml": yaml, "train.txt": lists[vise.SplitTrain].String(), "val.txt": lists[vise.SplitVal].String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// download fetches a blob into path, checking its sha256; with keep, it
// returns the content too (the manifest).
func download(ctx context.Context, cl *client.Client, sha, path string, keep bool) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	var kept bytes.Buffer
	w := io.MultiWriter(f, h)
	if keep {
		w = io.MultiWriter(f, h, &kept)
	}
	if err := cl.DownloadArtifact(ctx, sha, w); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return nil, vise.Errorf(vise.CodeInternal, "%s: downloaded content has sha256 %s, not %s", path, got, sha)
	}
	return kept.Bytes(), f.Close()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
