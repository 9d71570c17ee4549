package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/vise-edge/vise/procstat"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// BenchReport is what `vise-infer bench -o json` prints.
type BenchReport struct {
	Model       string  `json:"model"`
	Input       string  `json:"input"`
	ImageSize   string  `json:"image_size"`   // of the first image, after --resize
	DecodeScale string  `json:"decode_scale"` // DCT scale of the first image
	Cores       int     `json:"cores"`
	Threads     int     `json:"threads"`  // ONNX Runtime intra-op
	Decoders    int     `json:"decoders"` // decode workers
	Images      int     `json:"images"`
	Frames      int     `json:"frames"`
	BareFPS     float64 `json:"bare_fps"`       // session.Run on ready tensors only
	EndToEndFPS float64 `json:"end_to_end_fps"` // file to result, pipelined
	Ratio       float64 `json:"ratio"`          // end-to-end / bare
	BareMS      float64 `json:"bare_ms_per_image"`
	Stages      Stages  `json:"stages"` // per frame, end-to-end run
	// CPUMSPerFrame is the process's CPU time (all threads) per frame in
	// each run. RatioBound = cores x bare ms / end-to-end CPU ms, capped at
	// 1: the best ratio the CPU a frame needs allows on this many cores.
	CPUMSPerFrame CPUMS   `json:"cpu_ms_per_frame"`
	RatioBound    float64 `json:"ratio_bound"`
	Blocks        int     `json:"blocks"`         // bare and end-to-end alternate, so both see the same machine
	LatencyP50MS  float64 `json:"latency_p50_ms"` // end-to-end, per image
	LatencyP99MS  float64 `json:"latency_p99_ms"`
	PeakRSSBytes  int64   `json:"peak_rss_bytes"`
	ORTVersion    string  `json:"ort_version"`

	Compare *BenchCompare `json:"compare,omitempty"` // with --compare
	Profile *BenchProfile `json:"profile,omitempty"` // with --profile
}

// CPUMS is CPU milliseconds per frame in the bare and end-to-end runs.
type CPUMS struct {
	Bare     float64 `json:"bare"`
	EndToEnd float64 `json:"end_to_end"`
}

// Stages are per-stage times of the end-to-end run.
type Stages struct {
	Decode      Stat `json:"decode"`
	ResizePad   Stat `json:"resize_pad"`
	Inference   Stat `json:"inference"`
	Postprocess Stat `json:"postprocess"`
}

// Stat is a mean and 99th percentile in milliseconds.
type Stat struct {
	MeanMS float64 `json:"mean_ms"`
	P99MS  float64 `json:"p99_ms"`
}

func benchCmd(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c common
	c.register(fs)
	images := fs.String("images", "", "folder of JPEG/PNG images")
	frames := fs.Int("frames", 200, "images to run in each measurement")
	blocks := fs.Int("blocks", 5, "alternate bare and end-to-end runs this many times (on a busy machine both then see the same load)")
	resize := fs.String("resize", "", "re-encode the images at WxH (RGB JPEG, quality 90) before timing, e.g. 2448x2048")
	compare := fs.String("compare", "", "another model (e.g. the float parent of an INT8 one) whose bare speed is measured beside --model's")
	profile := fs.Bool("profile", false, "then run --frames frames of the model (and the --compare one) again with ONNX Runtime's profiler and report the time by op type")
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
	rep := BenchReport{Model: filepath.Base(c.model), Input: fmt.Sprintf("%dx%d", sess.Contract.Width, sess.Contract.Height),
		Cores: runtime.NumCPU(), Threads: c.threads, Decoders: p.opts.Decoders, Images: len(paths), Frames: *frames, ORTVersion: ortVersion()}
	rep.Blocks = max(1, min(*blocks, *frames))
	tensors, err := p.tensors(&rep, paths)
	if err != nil {
		return err
	}
	if err := p.measure(ctx, &rep, paths, tensors); err != nil {
		return err
	}
	rep.PeakRSSBytes = peakRSS()
	if *compare != "" {
		if rep.Compare, err = benchCompare(c, *compare, p.sess, tensors, *frames); err != nil {
			return err
		}
	}
	if *profile {
		if rep.Profile, err = benchProfile(c, *compare, tensors, *frames); err != nil {
			return err
		}
	}
	if c.output == "json" {
		return printJSON(stdout, rep)
	}
	printBench(stdout, rep)
	if rep.Compare != nil {
		printCompare(stdout, rep.Model, rep.Compare)
	}
	if rep.Profile != nil {
		printProfile(stdout, rep.Model, filepath.Base(*compare), rep.Profile)
	}
	return nil
}

// resized re-encodes paths at size into a new temporary folder.
func resized(paths []string, size string) ([]string, error) {
	w, h, err := parseSize(size)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "vise-bench-")
	if err != nil {
		return nil, err
	}
	out, err := reencode(paths, w, h, dir)
	if err != nil {
		os.RemoveAll(dir)
	}
	return out, err
}

func printBench(w io.Writer, r BenchReport) {
	fmt.Fprintf(w, "model %s, input %s, images %s (DCT scale %s), %d cores: %d intra-op threads, %d decoders, ONNX Runtime %s, %d frames over %d images\n",
		r.Model, r.Input, r.ImageSize, r.DecodeScale, r.Cores, r.Threads, r.Decoders, r.ORTVersion, r.Frames, r.Images)
	fmt.Fprintf(w, "bare model:   %.1f images/s (%.2f ms/image)\n", r.BareFPS, r.BareMS)
	fmt.Fprintf(w, "end to end:   %.1f images/s (ratio %.2f), latency p50 %.1f ms, p99 %.1f ms\n", r.EndToEndFPS, r.Ratio, r.LatencyP50MS, r.LatencyP99MS)
	fmt.Fprintf(w, "CPU a frame:  %.2f ms bare, %.2f ms end to end: on %d cores the ratio can be at most %.2f\n", r.CPUMSPerFrame.Bare, r.CPUMSPerFrame.EndToEnd, r.Cores, r.RatioBound)
	for _, s := range []struct {
		name string
		st   Stat
	}{{"decode", r.Stages.Decode}, {"resize+pad", r.Stages.ResizePad}, {"inference", r.Stages.Inference}, {"postprocess", r.Stages.Postprocess}} {
		fmt.Fprintf(w, "  %-12s mean %6.2f ms, p99 %6.2f ms\n", s.name, s.st.MeanMS, s.st.P99MS)
	}
	fmt.Fprintf(w, "peak RSS:     %.1f MiB\n", float64(r.PeakRSSBytes)/(1<<20))
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
func peakRSS() int64 { return procstat.PeakRSS(0) }
