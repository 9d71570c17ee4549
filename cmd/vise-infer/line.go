package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/lineout"
	"github.com/vise-edge/vise/source"
	"github.com/vise-edge/vise/source/aravis"
	"github.com/vise-edge/vise/verdict"
)

// This file connects vise-infer to the line: camera settings, triggers,
// verdict rules and the outputs verdicts go to.

// lineSettings are the camera settings flags and the configuration share.
type lineSettings struct {
	Trigger      string
	FFmpeg       string
	Stall        time.Duration
	ReconnectMax time.Duration
}

// lineFlags are the run flags this file adds.
type lineFlags struct {
	frames      int64
	statusEvery time.Duration
	metrics     string // listen address for /metrics ("" serves none)
}

func (s *settings) registerLine(fs *flag.FlagSet) *lineFlags {
	var l lineFlags
	fs.StringVar(&s.Trigger, "trigger", "", "software: one frame per trigger/<component> message on the local IPC endpoint (default: free-running)")
	fs.StringVar(&s.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg program for rtsp:// and http:// sources")
	fs.DurationVar(&s.Stall, "stall-timeout", 5*time.Second, "a camera silent this long is reconnected")
	fs.DurationVar(&s.ReconnectMax, "reconnect-max", 5*time.Second, "longest wait between camera reconnects")
	fs.Int64Var(&l.frames, "frames", 0, "stop after this many frames (0: run until stopped)")
	fs.DurationVar(&l.statusEvery, "status-interval", 10*time.Second, "how often the component status goes to the agent")
	fs.StringVar(&l.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 (default: none)")
	return &l
}

// lineConfig is the part of the component configuration this file reads
// (at start; a change takes effect when the component restarts).
type lineConfig struct {
	Trigger      string          `json:"trigger"`
	StallTimeout string          `json:"stall_timeout"`
	ReconnectMax string          `json:"reconnect_max"`
	Metrics      string          `json:"metrics"` // --metrics
	RejectWhen   json.RawMessage `json:"reject_when"`
	Outputs      json.RawMessage `json:"outputs"`
	// OutputsByDevice gives devices of a group deployment their own line
	// signals (by VISE_DEVICE, like source_by_device): the one device
	// wired to a PLC pulses it, the others do not.
	OutputsByDevice map[string]json.RawMessage `json:"outputs_by_device"`
	Camera          cameraConfig               `json:"camera"`
}

// cameraConfig are an aravis:// camera's settings.
type cameraConfig struct {
	PixelFormat   string  `json:"pixel_format"`
	Exposure      float64 `json:"exposure_us"`
	Gain          float64 `json:"gain_db"`
	FrameRate     float64 `json:"frame_rate"`
	TriggerSource string  `json:"trigger_source"` // with trigger: camera (default Line1)
}

// line is the runner's camera and line-signal state.
type line struct {
	triggers    chan source.Trigger
	limit       frameLimit
	rules       verdict.Rules
	outputs     []*lineout.Output
	outputNames []string
	mqtt        bool // verdicts on the local IPC endpoint (printed when standalone)
	observe     func(*verdict.Verdict, time.Time)
	comp        string
	stopOut     context.CancelFunc
	stopMetrics func()
	camera      aravis.Settings // an aravis:// source's settings

	srcMu     sync.Mutex
	srcStatus func() source.Status
}

func (l *line) setSource(f func() source.Status) {
	l.srcMu.Lock()
	l.srcStatus = f
	l.srcMu.Unlock()
}

func (l *line) sourceStatus() *source.Status {
	l.srcMu.Lock()
	defer l.srcMu.Unlock()
	if l.srcStatus == nil {
		return nil
	}
	st := l.srcStatus()
	return &st
}

// startLine reads the line settings from the configuration file (flags
// given win), parses the rules against the model's classes, starts the
// outputs and subscribes to triggers. The returned context ends after
// --frames results.
func (r *runner) startLine(ctx context.Context, lf *lineFlags, cfgPath string, classes []string) (context.Context, error) {
	var lc lineConfig
	if cfgPath != "" {
		b, err := os.ReadFile(cfgPath)
		if err == nil {
			err = json.Unmarshal(b, &lc)
		}
		if err != nil {
			return ctx, fmt.Errorf("configuration %s: %w", cfgPath, err)
		}
	}
	r.triggers = make(chan source.Trigger, 64)
	cc := lc.Camera
	r.camera = aravis.Settings{PixelFormat: cc.PixelFormat, Exposure: cc.Exposure, Gain: cc.Gain, FrameRate: cc.FrameRate, Trigger: cc.TriggerSource}
	r.comp = os.Getenv("VISE_COMPONENT")
	var err error
	if r.rules, err = verdict.Parse(lc.RejectWhen, classes); err != nil {
		return ctx, fmt.Errorf("configuration %s: %w", cfgPath, err)
	}
	if own, ok := lc.OutputsByDevice[os.Getenv("VISE_DEVICE")]; ok {
		lc.Outputs = own
	}
	cfgs, err := lineout.ParseConfigs(lc.Outputs)
	if err != nil {
		return ctx, fmt.Errorf("configuration %s: %w", cfgPath, err)
	}
	octx, stop := context.WithCancel(context.Background())
	r.stopOut = stop
	for _, c := range cfgs {
		var s lineout.Sender = verdictSender{r.pub}
		if c.Type == "mqtt" {
			r.mqtt = true
		} else {
			s, err = lineout.Open(c)
		}
		if err != nil {
			r.stopLine()
			return ctx, err
		}
		if c.Type == "mqtt" && r.pub.ipc == nil {
			continue // printed with the result instead (decide)
		}
		r.outputs = append(r.outputs, lineout.Start(octx, c, s, r.log, r.observe))
		r.outputNames = append(r.outputNames, c.Name)
	}
	r.counts.health = r.health
	if lf.metrics != "" {
		if r.stopMetrics, err = r.serveMetrics(lf.metrics); err != nil {
			r.stopLine()
			return ctx, err
		}
	}
	if r.pub.ipc != nil {
		if err := r.pub.ipc.subscribeTriggers(ctx, r.triggers, r.log); err != nil {
			r.stopLine()
			return ctx, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	r.limit = frameLimit{n: lf.frames, stop: cancel}
	return ctx, nil
}

// lineFromConfig overlays the configuration's camera settings on st for
// the flags the command line did not set.
func lineFromConfig(fs *flag.FlagSet, cfgPath string) {
	var lc lineConfig
	if b, err := os.ReadFile(cfgPath); err != nil || json.Unmarshal(b, &lc) != nil {
		return // readConfig reported it
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for name, v := range map[string]string{"trigger": lc.Trigger, "stall-timeout": lc.StallTimeout, "reconnect-max": lc.ReconnectMax, "metrics": lc.Metrics} {
		if v != "" && !set[name] {
			fs.Set(name, v)
		}
	}
}

func (r *runner) stopLine() {
	if r.stopMetrics != nil {
		r.stopMetrics()
	}
	if r.stopOut != nil {
		r.stopOut()
	}
	for _, o := range r.outputs {
		o.Close()
	}
}

// decide turns a result into a verdict and hands it to every output; none
// of them blocks.
func (r *runner) decide(src source.Frame, res *infer.Result) {
	if len(r.outputs) == 0 && !r.mqtt {
		return
	}
	reject, reasons := r.rules.Decide(res)
	if reject {
		r.counts.rejects.Add(1)
	}
	v := &verdict.Verdict{Schema: verdict.Schema, MsgID: ulid.Make().String(), ResultID: res.MsgID, Component: r.comp,
		PartID: src.PartID, Image: res.Image.Name, CapturedAt: res.CapturedAt, DecidedAt: time.Now().UTC(), Reject: reject, Reasons: reasons}
	for _, o := range r.outputs {
		o.Offer(v)
	}
	if r.mqtt && r.pub.ipc == nil {
		b, _ := json.Marshal(v)
		fmt.Fprintf(r.pub.w, "%s\n", b)
	}
}
