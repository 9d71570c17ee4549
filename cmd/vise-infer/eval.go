package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
	"github.com/vise-edge/vise/source"
)

// EvalReport is what `vise-infer eval -o json` prints.
type EvalReport struct {
	Model   string  `json:"model"`
	Dataset string  `json:"dataset"`
	Images  int     `json:"images"`
	Labels  int     `json:"labels"`
	MAP50   float64 `json:"map50"`
	MAP5095 float64 `json:"map50_95"`
	Skipped int     `json:"skipped_images"`
	Resize  string  `json:"resize,omitempty"` // images re-encoded at this size first
	Scaled  int     `json:"dct_scaled_images"`
}

func evalCmd(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	var c common
	c.register(fs)
	dataset := fs.String("dataset", "", "dataset in YOLO layout (images/, labels/)")
	list := fs.String("list", "", "evaluate only the images named in this file, one per line (a validation split)")
	resize := fs.String("resize", "", "re-encode the images at WxH (RGB JPEG, quality 90) first: accuracy at a camera's resolution (labels are normalised, so they still fit)")
	if err := parse(fs, args); err != nil {
		return err
	}
	c.conf = min(c.conf, 0.001) // mAP integrates over all confidences
	paths, err := imageFiles(filepath.Join(*dataset, "images"))
	if err != nil {
		return err
	}
	if *list != "" {
		if paths, err = filterList(paths, *list); err != nil {
			return err
		}
	}
	if *resize != "" {
		if paths, err = resized(paths, *resize); err != nil {
			return err
		}
		defer os.RemoveAll(filepath.Dir(paths[0]))
	}
	sess, model, err := c.open()
	if err != nil {
		return err
	}
	defer sess.Close()
	p := newPipeline(sess, c.post(sess), model, c.pipe(), log)
	rep := EvalReport{Model: filepath.Base(c.model), Dataset: *dataset, Resize: *resize}
	var scored []infer.Scored
	in := make(chan source.Frame)
	go func() {
		defer close(in)
		for _, path := range paths {
			in <- fileFrame(path)
		}
	}()
	err = p.run(ctx, in, func(src source.Frame, r *infer.Result, _ stages) {
		path := src.Path
		if r.Error != "" {
			rep.Skipped++
			return
		}
		if r.Image.Width > 0 && !p.opts.NoScale && turbo.Scale(r.Image.Width, r.Image.Height, sess.Contract.Width, sess.Contract.Height) != (turbo.Factor{Num: 1, Denom: 1}) {
			rep.Scaled++
		}
		gts, err := readLabels(*dataset, path, r.Image.Width, r.Image.Height)
		if err != nil {
			log.Warn("labels unreadable; image skipped", "image", path, "err", err)
			rep.Skipped++
			return
		}
		rep.Images++
		rep.Labels += len(gts)
		scored = append(scored, infer.Scored{Detections: r.Detections, Truth: gts})
	})
	if err != nil {
		return err
	}
	rep.MAP50, rep.MAP5095 = infer.MAP(scored, sess.Contract.Classes)
	if c.output == "json" {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "%s on %s: %d images, %d labels: mAP50 %.4f, mAP50-95 %.4f\n", rep.Model, rep.Dataset, rep.Images, rep.Labels, rep.MAP50, rep.MAP5095)
	return nil
}

// readLabels reads a YOLO label file (class cx cy w h, normalised). A
// missing file is an image without labels.
func readLabels(dataset, image string, w, h int) ([]infer.GroundTruth, error) {
	name := strings.TrimSuffix(filepath.Base(image), filepath.Ext(image)) + ".txt"
	f, err := os.Open(filepath.Join(dataset, "labels", name))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []infer.GroundTruth
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		b, err := vise.ParseYOLOBox(fields, 0)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		out = append(out, infer.GroundTruth{ClassID: b.Class, Box: infer.Box{X: (b.CX - b.W/2) * float64(w), Y: (b.CY - b.H/2) * float64(h),
			Width: b.W * float64(w), Height: b.H * float64(h)}})
	}
	return out, sc.Err()
}

func filterList(paths []string, list string) ([]string, error) {
	b, err := os.ReadFile(list)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		want[filepath.Base(l)] = true
	}
	var out []string
	for _, p := range paths {
		if want[filepath.Base(p)] {
			out = append(out, p)
		}
	}
	return out, nil
}
