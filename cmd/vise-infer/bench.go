package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
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
	// CoreMSPerFrame is the CPU a frame needs: threads x bare inference
	// time (intra-op threads hold their cores for the whole run) plus the
	// decode, resize+pad and postprocess times. RatioBound = cores x bare
	// time / that, capped at 1: the best ratio these stage costs allow.
	CoreMSPerFrame float64 `json:"core_ms_per_frame"`
	RatioBound     float64 `json:"ratio_bound"`
	LatencyP50MS   float64 `json:"latency_p50_ms"` // end-to-end, per image
	LatencyP99MS   float64 `json:"latency_p99_ms"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	ORTVersion     string  `json:"ort_version"`
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
	resize := fs.String("resize", "", "re-encode the images at WxH (RGB JPEG, quality 90) before timing, e.g. 2448x2048")
	if err := parse(fs, args); err != nil {
		return err
	}
	paths, err := imageFiles(*images)
	if err != nil {
		return err
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
	if err := p.bare(&rep, paths); err != nil {
		return err
	}
	if err := p.endToEnd(ctx, &rep, paths); err != nil {
		return err
	}
	rep.PeakRSSBytes = peakRSS()
	if c.output == "json" {
		return printJSON(stdout, rep)
	}
	printBench(stdout, rep)
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

// bare times session.Run alone on a few ready tensors (copy in, run).
func (p *pipeline) bare(rep *BenchReport, paths []string) error {
	w, err := p.newWorker()
	if err != nil {
		return err
	}
	defer w.dec.close()
	c := p.sess.Contract
	tensors := make([][]float32, min(len(paths), 8)) // a few: all of them would measure memory, not speed
	for i := range tensors {
		f := &frame{buf: make([]float32, 3*c.Width*c.Height)}
		if w.prepare(f, paths[i], c); f.err != nil {
			return f.err
		}
		tensors[i] = f.buf
		if i == 0 {
			rep.ImageSize = fmt.Sprintf("%dx%d", f.w, f.h)
			s := turbo.Scale(f.w, f.h, c.Width, c.Height)
			if p.opts.NoScale {
				s = turbo.Factor{Num: 1, Denom: 1}
			}
			rep.DecodeScale = fmt.Sprintf("%d/%d", s.Num, s.Denom)
		}
	}
	for i := range 5 { // warm up
		copy(p.sess.Input(), tensors[i%len(tensors)])
		p.sess.Run()
	}
	start := time.Now()
	for i := range rep.Frames {
		copy(p.sess.Input(), tensors[i%len(tensors)])
		if err := p.sess.Run(); err != nil {
			return err
		}
	}
	bare := time.Since(start)
	rep.BareFPS = float64(rep.Frames) / bare.Seconds()
	rep.BareMS = ms(bare) / float64(rep.Frames)
	return nil
}

// endToEnd runs files through the pipeline to results, recording stages.
func (p *pipeline) endToEnd(ctx context.Context, rep *BenchReport, paths []string) error {
	in := make(chan string)
	go func() {
		defer close(in)
		for i := range rep.Frames {
			in <- paths[i%len(paths)]
		}
	}()
	var lat, dec, fill, inf, post []float64
	var failed error
	start := time.Now()
	err := p.run(ctx, in, func(path string, r *infer.Result, t stages) {
		if r.Error != "" && failed == nil {
			failed = fmt.Errorf("%s: %s", path, r.Error)
		}
		lat = append(lat, float64(r.InferredAt.Sub(r.CapturedAt).Microseconds())/1000)
		dec, fill, inf, post = append(dec, ms(t.Decode)), append(fill, ms(t.Fill)), append(inf, ms(t.Infer)), append(post, ms(t.Post))
	})
	e2e := time.Since(start)
	if err != nil || failed != nil {
		return cmpErr(err, failed)
	}
	rep.EndToEndFPS = float64(len(lat)) / e2e.Seconds()
	rep.Ratio = rep.EndToEndFPS / rep.BareFPS
	rep.Stages = Stages{Decode: stat(dec), ResizePad: stat(fill), Inference: stat(inf), Postprocess: stat(post)}
	slices.Sort(lat)
	rep.LatencyP50MS, rep.LatencyP99MS = percentile(lat, 0.50), percentile(lat, 0.99)
	st := rep.Stages
	rep.CoreMSPerFrame = float64(min(rep.Threads, rep.Cores))*rep.BareMS + st.Decode.MeanMS + st.ResizePad.MeanMS + st.Postprocess.MeanMS
	rep.RatioBound = min(1, float64(rep.Cores)*rep.BareMS/rep.CoreMSPerFrame)
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func stat(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	var sum float64
	for _, x := range v {
		sum += x
	}
	s := slices.Sorted(slices.Values(v))
	return Stat{MeanMS: sum / float64(len(v)), P99MS: percentile(s, 0.99)}
}

func printBench(w io.Writer, r BenchReport) {
	fmt.Fprintf(w, "model %s, input %s, images %s (DCT scale %s), %d cores: %d intra-op threads, %d decoders, ONNX Runtime %s, %d frames over %d images\n",
		r.Model, r.Input, r.ImageSize, r.DecodeScale, r.Cores, r.Threads, r.Decoders, r.ORTVersion, r.Frames, r.Images)
	fmt.Fprintf(w, "bare model:   %.1f images/s (%.2f ms/image)\n", r.BareFPS, r.BareMS)
	fmt.Fprintf(w, "end to end:   %.1f images/s (ratio %.2f, best these stages allow %.2f), latency p50 %.1f ms, p99 %.1f ms\n",
		r.EndToEndFPS, r.Ratio, r.RatioBound, r.LatencyP50MS, r.LatencyP99MS)
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
