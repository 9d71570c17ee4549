package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/source"
)

// BenchReport is what `vise-infer bench -o json` prints.
type BenchReport struct {
	Model        string  `json:"model"`
	Input        string  `json:"input"`
	Threads      int     `json:"threads"`
	Images       int     `json:"images"`
	Frames       int     `json:"frames"`
	BareFPS      float64 `json:"bare_fps"`       // session.Run on ready tensors only
	EndToEndFPS  float64 `json:"end_to_end_fps"` // file to result, pipelined
	Ratio        float64 `json:"ratio"`          // end-to-end / bare
	BareMS       float64 `json:"bare_ms_per_image"`
	PreprocessMS float64 `json:"preprocess_ms_mean"` // decode + letterbox, one image
	LatencyP50MS float64 `json:"latency_p50_ms"`     // end-to-end, per image
	LatencyP99MS float64 `json:"latency_p99_ms"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	ORTVersion   string  `json:"ort_version"`

	Compare *BenchCompare `json:"compare,omitempty"` // with --compare
}

func benchCmd(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c common
	c.register(fs)
	images := fs.String("images", "", "folder of JPEG/PNG images")
	frames := fs.Int("frames", 40, "images to run in each measurement")
	compare := fs.String("compare", "", "another model (e.g. the float parent of an INT8 one) whose bare speed is measured beside --model's")
	signal := registerSignalBench(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	paths, err := imageFiles(*images)
	if err != nil {
		return err
	}
	if signal.kind != "" {
		return signal.run(ctx, &c, fs, paths, *frames, stdout, log)
	}
	sess, model, err := c.open()
	if err != nil {
		return err
	}
	defer sess.Close()
	p := newPipeline(sess, c.post(sess), model, log)
	rep := BenchReport{Model: filepath.Base(c.model), Input: fmt.Sprintf("%dx%d", sess.Contract.Width, sess.Contract.Height),
		Threads: c.threads, Images: len(paths), Frames: *frames, ORTVersion: ortVersion()}

	// Preprocess every image once, timing it; keep the tensors for the bare run.
	tensors := make([][]float32, len(paths))
	var pre time.Duration
	for i, path := range paths {
		f := p.prepare(fileFrame(path), make([]float32, len(sess.Input())))
		if f.err != nil {
			return f.err
		}
		tensors[i], pre = f.buf, pre+f.pre
	}
	rep.PreprocessMS = ms(pre) / float64(len(paths))

	// Bare model: copy a ready tensor in and run, nothing else.
	for i := range 3 { // warm up
		copy(sess.Input(), tensors[i%len(tensors)])
		sess.Run()
	}
	start := time.Now()
	for i := range *frames {
		copy(sess.Input(), tensors[i%len(tensors)])
		if err := sess.Run(); err != nil {
			return err
		}
	}
	bare := time.Since(start)
	rep.BareFPS = float64(*frames) / bare.Seconds()
	rep.BareMS = ms(bare) / float64(*frames)

	// End to end: files through the pipeline to results.
	in := make(chan source.Frame)
	go func() {
		defer close(in)
		for i := range *frames {
			in <- fileFrame(paths[i%len(paths)])
		}
	}()
	var lat []float64
	start = time.Now()
	p.run(ctx, in, func(_ source.Frame, r *infer.Result) {
		lat = append(lat, float64(r.InferredAt.Sub(r.CapturedAt).Microseconds())/1000)
	})
	e2e := time.Since(start)
	rep.EndToEndFPS = float64(len(lat)) / e2e.Seconds()
	rep.Ratio = rep.EndToEndFPS / rep.BareFPS
	slices.Sort(lat)
	rep.LatencyP50MS, rep.LatencyP99MS = percentile(lat, 0.50), percentile(lat, 0.99)
	rep.PeakRSSBytes = peakRSS()
	if *compare != "" {
		if rep.Compare, err = benchCompare(c, *compare, sess, tensors, *frames); err != nil {
			return err
		}
	}
	if c.output == "json" {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "model %s, input %s, %d threads, ONNX Runtime %s, %d frames over %d images\n", rep.Model, rep.Input, rep.Threads, rep.ORTVersion, rep.Frames, rep.Images)
	fmt.Fprintf(stdout, "bare model:   %.1f images/s (%.1f ms/image)\n", rep.BareFPS, rep.BareMS)
	fmt.Fprintf(stdout, "end to end:   %.1f images/s (ratio %.2f), latency p50 %.1f ms, p99 %.1f ms\n", rep.EndToEndFPS, rep.Ratio, rep.LatencyP50MS, rep.LatencyP99MS)
	fmt.Fprintf(stdout, "preprocess:   %.2f ms/image (decode + letterbox)\npeak RSS:     %.1f MiB\n", rep.PreprocessMS, float64(rep.PeakRSSBytes)/(1<<20))
	if rep.Compare != nil {
		printCompare(stdout, rep.Model, rep.Compare)
	}
	return nil
}

func imageFiles(dir string) ([]string, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: pass --images DIR", errUsage)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && isImage(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no JPEG or PNG images in %s", dir)
	}
	return out, nil
}

func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// peakRSS is the process's high-water resident memory (VmHWM).
func peakRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
