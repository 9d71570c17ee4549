package main

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
	"github.com/vise-edge/vise/source"
)

// measure alternates bare and end-to-end blocks and fills in the report.
func (p *pipeline) measure(ctx context.Context, rep *BenchReport, paths []string, tensors [][]float32) error {
	var bare, e2e, bareCPU, e2eCPU time.Duration
	var t timings
	done := 0
	for b := range rep.Blocks {
		n := (b+1)*rep.Frames/rep.Blocks - b*rep.Frames/rep.Blocks
		c0, t0 := cpuTime(), time.Now()
		if err := p.bareRun(tensors, n); err != nil {
			return err
		}
		c1, t1 := cpuTime(), time.Now()
		if err := p.e2eRun(ctx, paths, done, n, &t); err != nil {
			return err
		}
		bare, e2e = bare+t1.Sub(t0), e2e+time.Since(t1)
		bareCPU, e2eCPU = bareCPU+c1-c0, e2eCPU+cpuTime()-c1
		done += n
	}
	f := float64(rep.Frames)
	rep.BareFPS, rep.BareMS = f/bare.Seconds(), ms(bare)/f
	rep.EndToEndFPS = float64(len(t.lat)) / e2e.Seconds()
	rep.Ratio = rep.EndToEndFPS / rep.BareFPS
	rep.Stages = Stages{Decode: stat(t.dec), ResizePad: stat(t.fill), Inference: stat(t.inf), Postprocess: stat(t.post)}
	slices.Sort(t.lat)
	rep.LatencyP50MS, rep.LatencyP99MS = percentile(t.lat, 0.50), percentile(t.lat, 0.99)
	rep.CPUMSPerFrame = CPUMS{Bare: ms(bareCPU) / f, EndToEnd: ms(e2eCPU) / f}
	rep.RatioBound = min(1, float64(rep.Cores)*rep.BareMS/rep.CPUMSPerFrame.EndToEnd)
	return nil
}

// tensors prepares a few inputs for the bare runs (all of them would
// measure memory, not speed), and warms the session up.
func (p *pipeline) tensors(rep *BenchReport, paths []string) ([][]float32, error) {
	w, err := p.newWorker()
	if err != nil {
		return nil, err
	}
	defer w.dec.close()
	c := p.sess.Contract
	tensors := make([][]float32, min(len(paths), 8))
	for i := range tensors {
		f := &frame{buf: make([]float32, 3*c.Width*c.Height)}
		if w.prepare(f, fileFrame(paths[i]), c); f.err != nil {
			return nil, f.err
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
	return tensors, p.bareRun(tensors, 5)
}

// bareRun copies ready tensors in and runs the session, nothing else.
func (p *pipeline) bareRun(tensors [][]float32, n int) error {
	for i := range n {
		copy(p.sess.Input(), tensors[i%len(tensors)])
		if err := p.sess.Run(); err != nil {
			return err
		}
	}
	return nil
}

// timings collects per-frame figures over the end-to-end runs.
type timings struct{ lat, dec, fill, inf, post []float64 }

// e2eRun sends n files, from the from-th on, through the pipeline.
func (p *pipeline) e2eRun(ctx context.Context, paths []string, from, n int, t *timings) error {
	in := make(chan source.Frame)
	go func() {
		defer close(in)
		for i := range n {
			in <- fileFrame(paths[(from+i)%len(paths)])
		}
	}()
	var failed error
	err := p.run(ctx, in, func(src source.Frame, r *infer.Result, s stages) {
		if r.Error != "" && failed == nil {
			failed = fmt.Errorf("%s: %s", src.Path, r.Error)
		}
		t.lat = append(t.lat, float64(r.InferredAt.Sub(r.CapturedAt).Microseconds())/1000)
		t.dec, t.fill = append(t.dec, ms(s.Decode)), append(t.fill, ms(s.Fill))
		t.inf, t.post = append(t.inf, ms(s.Infer)), append(t.post, ms(s.Post))
	})
	return cmpErr(err, failed)
}

// cpuTime is the CPU time the process has used, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
