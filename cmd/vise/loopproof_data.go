package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/datasets"
)

// Names the loop proof gives its model and datasets.
const (
	loopModelName = "metal-tags"
	loopFull      = "metal-tags"       // the whole dataset, version 1
	loopHalf      = "metal-tags-half"  // the first half; version 2 adds what came back
	loopBench     = "metal-tags-bench" // the benchmark split
)

// loopData is how the proof divided the dataset.
type loopData struct {
	first, bench string                      // dataset versions, NAME@V
	replayed     map[string]vise.DatasetItem // by image name: what the devices show, with its true boxes
	classes      []string
}

// divide imports the dataset as version 1 and divides its camera shots: the
// shots of its validation split are the benchmark, the rest go by turns to
// the first training set and to the devices' cameras (a shot's crops stay
// together, and on one device).
func (r *loopRun) divide(ctx context.Context, rep *loopReport) (*loopData, error) {
	req, paths, err := readYOLO(r.o.dataset, true)
	if err != nil {
		return nil, err
	}
	path := map[string]string{}
	for i := range req.Items {
		art, err := r.cl.UploadFile(ctx, paths[i], nil)
		if err != nil {
			return nil, err
		}
		req.Items[i].SHA256 = art.SHA256
		path[req.Items[i].Name] = paths[i]
	}
	full, _, err := r.cl.ImportDataset(ctx, loopFull, *req)
	if err != nil {
		return nil, err
	}
	m, err := r.cl.DatasetManifest(ctx, full.Name, full.Version)
	if err != nil {
		return nil, err
	}
	shots := map[string][]vise.DatasetItem{}
	for _, it := range m.Items {
		shots[datasets.Shot(it.Name)] = append(shots[datasets.Shot(it.Name)], it)
	}
	names := make([]string, 0, len(shots))
	for s := range shots {
		names = append(names, s)
	}
	sort.Strings(names)
	inBench := func(s string) bool { return shots[s][0].Split == vise.SplitVal }
	if !slices.ContainsFunc(names, inBench) { // a small dataset whose hash put no shot into validation
		last := names[len(names)-1]
		inBench = func(s string) bool { return s == last }
	}
	d := &loopData{replayed: map[string]vise.DatasetItem{}, classes: m.Classes}
	var first, bench []vise.DatasetItem
	turn := 0
	for _, s := range names {
		items, count := shots[s], &rep.Shots.Benchmark
		if !inBench(s) {
			count = []*int{&rep.Shots.First, &rep.Shots.Replayed}[turn%2]
			turn++
		}
		if r.o.shots > 0 && *count >= r.o.shots {
			continue // a quick run: this part has its shots
		}
		switch count {
		case &rep.Shots.Benchmark:
			bench = append(bench, items...)
		case &rep.Shots.First:
			for _, it := range items {
				it.Split = vise.SplitTrain
				if rep.Shots.First%5 == 1 { // the first model's own validation shots
					it.Split = vise.SplitVal
				}
				first = append(first, it)
			}
		default:
			device := r.devices[rep.Shots.Replayed%len(r.devices)]
			for _, it := range items {
				if err := copyFile(path[it.Name], filepath.Join(r.cameras, device, it.Name)); err != nil {
					return nil, err
				}
				d.replayed[it.Name] = it
			}
		}
		*count++
	}
	rep.Images.First, rep.Images.Replayed, rep.Images.Benchmark = len(first), len(d.replayed), len(bench)
	if d.first, err = r.importItems(ctx, loopHalf, m.Classes, first); err != nil {
		return nil, err
	}
	if d.bench, err = r.importItems(ctx, loopBench, m.Classes, bench); err != nil {
		return nil, err
	}
	rep.Benchmark = d.bench
	return d, nil
}

// importItems makes a version of name of items already uploaded.
func (r *loopRun) importItems(ctx context.Context, name string, classes []string, items []vise.DatasetItem) (string, error) {
	if len(items) == 0 {
		return "", vise.Errorf(vise.CodeInvalid, "dataset %s has too few camera shots to divide: nothing for %s", r.o.dataset, name)
	}
	dv, _, err := r.cl.ImportDataset(ctx, name, vise.ImportDatasetRequest{Classes: classes, Items: items})
	if err != nil {
		return "", err
	}
	return dv.Ref(), nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// manifestBytes is the size of a version's manifest: its canonical JSON,
// as stored.
func (r *loopRun) manifestBytes(ctx context.Context, dv *vise.DatasetVersion) (int, error) {
	m, err := r.cl.DatasetManifest(ctx, dv.Name, dv.Version)
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("manifest of %s: %w", dv.Ref(), err)
	}
	return len(b), nil
}
