package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // sample images may be PNG
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/lineout"
	"github.com/vise-edge/vise/source"
	"github.com/vise-edge/vise/verdict"
)

// SignalReport is what `vise-infer bench --signal modbus -o json` prints:
// the time from a frame's arrival to the coil written on a Modbus server,
// against the time from arrival to the result in the same run.
type SignalReport struct {
	Model       string  `json:"model"`
	Input       string  `json:"input"`
	Threads     int     `json:"threads"`
	FrameSize   string  `json:"frame_size"`
	Frames      int     `json:"frames"`
	Signal      string  `json:"signal"`
	ResultP50MS float64 `json:"result_p50_ms"` // arrival → result (baseline)
	ResultP99MS float64 `json:"result_p99_ms"`
	SignalP50MS float64 `json:"signal_p50_ms"` // arrival → coil written on the server
	SignalP99MS float64 `json:"signal_p99_ms"`
	SignalMaxMS float64 `json:"signal_max_ms"`
	PreP50MS    float64 `json:"pre_p50_ms"`   // decode + letterbox of a frame
	InferP50MS  float64 `json:"infer_p50_ms"` // the model alone
	// Ratio is signal p99 / result p99: what the line signal adds.
	Ratio      float64 `json:"ratio_p99"`
	ORTVersion string  `json:"ort_version"`
}

type signalBench struct {
	kind string
	size string
}

func registerSignalBench(fs *flag.FlagSet) *signalBench {
	var s signalBench
	fs.StringVar(&s.kind, "signal", "", "modbus: measure frame arrival → coil written on a Modbus TCP server (default 1000 frames)")
	fs.StringVar(&s.size, "frame-size", "1280x720", "camera frame size for --signal")
	return &s
}

// run feeds camera-sized JPEG frames one at a time, as triggered parts
// arrive, through the pipeline, the rules and a Modbus output to a Modbus
// server in this process, and times each frame's coil write as the server
// sees it.
func (s *signalBench) run(ctx context.Context, c *common, fs *flag.FlagSet, paths []string, frames int, stdout io.Writer, log *slog.Logger) error {
	if s.kind != "modbus" {
		return fmt.Errorf("%w: --signal %q: only modbus is measured", errUsage, s.kind)
	}
	if !flagSet(fs, "frames") {
		frames = 1000
	}
	var w, h int
	if _, err := fmt.Sscanf(s.size, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 {
		return fmt.Errorf("%w: --frame-size %q: use WIDTHxHEIGHT", errUsage, s.size)
	}
	jpegs, err := cameraFrames(paths, w, h)
	if err != nil {
		return err
	}
	plc, err := startBenchPLC()
	if err != nil {
		return err
	}
	defer plc.srv.Stop()
	sess, model, err := c.open()
	if err != nil {
		return err
	}
	defer sess.Close()
	p := newPipeline(sess, c.post(sess), model, c.pipe(), log)
	octx, stop := context.WithCancel(ctx)
	cfg := lineout.Config{Type: "modbus", Name: "bench", On: lineout.OnAll, URL: plc.url, Coil: new(int), Pulse: "0s"}
	sender, err := lineout.Open(cfg)
	if err != nil {
		stop()
		return err
	}
	out := lineout.Start(octx, cfg, sender, log, nil)
	defer func() { stop(); out.Close() }()

	in := make(chan source.Frame)
	results := make(chan time.Time, 1)
	var pre, inf []float64
	go p.run(ctx, in, func(src source.Frame, r *infer.Result, _ stages) {
		reject, reasons := verdict.Rules{}.Decide(r)
		pre, inf = append(pre, r.LatencyMS.Pre), append(inf, r.LatencyMS.Infer)
		results <- time.Now()
		out.Offer(&verdict.Verdict{Schema: verdict.Schema, ResultID: r.MsgID, Reject: reject, Reasons: reasons, CapturedAt: src.CapturedAt})
	})
	defer close(in)
	var resLat, sigLat []float64
	for i := range frames + 5 { // the first 5 warm up
		arrived := time.Now()
		in <- source.Frame{Data: jpegs[i%len(jpegs)], Name: "bench.jpg", CapturedAt: arrived}
		var resAt, sigAt time.Time
		select {
		case resAt = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case sigAt = <-plc.written:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("frame %d: no coil write within 5s (output status %+v)", i, out.Status())
		}
		if i >= 5 {
			resLat = append(resLat, ms(resAt.Sub(arrived)))
			sigLat = append(sigLat, ms(sigAt.Sub(arrived)))
		}
	}
	slices.Sort(resLat)
	slices.Sort(sigLat)
	slices.Sort(pre)
	slices.Sort(inf)
	rep := SignalReport{Model: filepath.Base(c.model), PreP50MS: percentile(pre, 0.5), InferP50MS: percentile(inf, 0.5), Input: fmt.Sprintf("%dx%d", sess.Contract.Width, sess.Contract.Height), Threads: c.threads,
		FrameSize: s.size, Frames: frames, Signal: "modbus coil", ORTVersion: ortVersion(),
		ResultP50MS: percentile(resLat, 0.5), ResultP99MS: percentile(resLat, 0.99),
		SignalP50MS: percentile(sigLat, 0.5), SignalP99MS: percentile(sigLat, 0.99), SignalMaxMS: sigLat[len(sigLat)-1]}
	rep.Ratio = rep.SignalP99MS / rep.ResultP99MS
	if c.output == "json" {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "%d frames of %s, model input %s, %d threads\n", rep.Frames, rep.FrameSize, rep.Input, rep.Threads)
	fmt.Fprintf(stdout, "arrival → result:       p50 %.1f ms, p99 %.1f ms (decode+letterbox p50 %.1f ms, model p50 %.1f ms)\n", rep.ResultP50MS, rep.ResultP99MS, rep.PreP50MS, rep.InferP50MS)
	fmt.Fprintf(stdout, "arrival → coil written: p50 %.1f ms, p99 %.1f ms (max %.1f; %.2f× the result p99)\n", rep.SignalP50MS, rep.SignalP99MS, rep.SignalMaxMS, rep.Ratio)
	return nil
}

// cameraFrames re-encodes the images as w×h JPEGs, as a camera would send
// them (nearest-neighbour scaling: the content does not matter here).
func cameraFrames(paths []string, w, h int) ([][]byte, error) {
	var out [][]byte
	for _, p := range paths[:min(len(paths), 8)] {
		file, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		img, _, err := image.Decode(bytes.NewReader(file))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		src := img.Bounds()
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				dst.Set(x, y, img.At(src.Min.X+x*src.Dx()/w, src.Min.Y+y*src.Dy()/h))
			}
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, dst, &jpeg.Options{Quality: 85}); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	return out, nil
}

// benchPLC is a Modbus TCP server whose coil writes are timed on arrival.
type benchPLC struct {
	srv     *modbus.ModbusServer
	url     string
	written chan time.Time
}

func startBenchPLC() (*benchPLC, error) {
	p := &benchPLC{written: make(chan time.Time, 16)}
	for range 5 { // a port from :0 can be taken between probe and listen
		p.url = "tcp://" + freeLoopback()
		srv, err := modbus.NewServer(&modbus.ServerConfiguration{URL: p.url, MaxClients: 2, Timeout: time.Minute}, p)
		if err == nil {
			if err = srv.Start(); err == nil {
				p.srv = srv
				return p, nil
			}
		}
	}
	return nil, fmt.Errorf("bench: cannot start a Modbus server on 127.0.0.1")
}

func (p *benchPLC) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	if req.IsWrite {
		p.written <- time.Now()
		return nil, nil
	}
	return make([]bool, req.Quantity), nil
}

func (p *benchPLC) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (p *benchPLC) HandleHoldingRegisters(*modbus.HoldingRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (p *benchPLC) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func freeLoopback() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:1502"
	}
	defer l.Close()
	return l.Addr().String()
}
