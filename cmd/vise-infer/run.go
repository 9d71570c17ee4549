package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/sendback"
	"github.com/vise-edge/vise/source"
)

func runCmd(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c common
	c.register(fs)
	var st settings
	fs.StringVar(&st.Source, "source", os.Getenv("VISE_SOURCE"), "camera: rtsp://…, http://… (MJPEG) or a folder of images (env VISE_SOURCE)")
	line := st.registerLine(fs)
	fs.StringVar(&st.Done, "done", "", "move processed images here (default SOURCE/.processed); ignored with --replay")
	fs.BoolVar(&st.Replay, "replay", false, "cycle the folder at --interval instead of watching it (a simulated camera)")
	fs.DurationVar(&st.Interval, "interval", time.Second, "time between images with --replay")
	fs.StringVar(&st.Upload, "upload", "defects", "attach images to results sent to the agent: defects, all or none (printed results carry none unless set)")
	fs.Float64Var(&st.Sample, "upload-sample", 0, "share of defect-free images attached too, for labelling (0-1)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfgPath := os.Getenv("VISE_CONFIG")
	var cfgTime time.Time
	if cfgPath != "" {
		cfg, mod, err := readConfig(cfgPath)
		if err != nil {
			return fmt.Errorf("configuration %s: %w", cfgPath, err)
		}
		applyConfig(fs, cfg)
		if st.SendBack, err = cfg.sendBack(); err != nil {
			return fmt.Errorf("configuration %s: %w", cfgPath, err)
		}
		lineFromConfig(fs, cfgPath)
		cfgTime = mod
	}
	st.Conf, st.IoU = c.conf, c.iou
	if err := st.check(); err != nil {
		return err
	}
	if os.Getenv("VISE_IPC") == "" && !flagSet(fs, "upload") && st.SendBack == nil {
		st.Upload = "none" // JSON lines on a terminal: no base64 images unless asked
	}
	policy, err := st.policy()
	if err != nil {
		return err
	}
	if err := st.checkSource(); err != nil {
		return err
	}
	sess, model, err := c.open()
	if err != nil {
		return err
	}
	defer sess.Close()
	pub, err := newPublisher(ctx, stdout, log)
	if err != nil {
		return err
	}
	defer pub.Close()
	r := &runner{p: newPipeline(sess, c.post(sess), model, c.pipe(), log), pub: pub, log: log, st: st, changed: make(chan struct{}, 1),
		sendBack: sendback.New(policy), provenance: provenanceFromEnv()}
	r.counts.sendBack = r.sendBack.Counts
	ctx, err = r.startLine(ctx, line, cfgPath, sess.Contract.Names)
	if err != nil {
		return err
	}
	defer r.stopLine()
	if cfgPath != "" {
		go r.watchConfig(ctx, cfgPath, cfgTime)
	}
	frames := make(chan source.Frame)
	go r.feed(ctx, frames)
	pub.Ready(&r.counts)
	go pub.reportEvery(ctx, line.statusEvery, &r.counts)
	log.Info("vise-infer running", "model", c.model, "source", st.Source, "replay", st.Replay, "input", fmt.Sprintf("%dx%d", sess.Contract.Width, sess.Contract.Height))
	return r.p.run(ctx, frames, r.emit)
}

// settings are what the configuration can change while running.
type settings struct {
	Source, Done string
	Replay       bool
	Interval     time.Duration
	Upload       string
	Sample       float64
	SendBack     *sendback.Config // from the configuration; nil: Upload and Sample
	Conf, IoU    float64
	lineSettings
}

// policy is the send-back policy the settings ask for.
func (s *settings) policy() (sendback.Config, error) {
	if s.SendBack != nil {
		return *s.SendBack, nil
	}
	c, err := sendback.Legacy(s.Upload, s.Sample)
	if err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	return c, nil
}

func (s *settings) check() error {
	if s.Source == "" {
		return fmt.Errorf("%w: no image folder: pass --source DIR", errUsage)
	}
	if s.Interval <= 0 {
		return fmt.Errorf("%w: interval %s must be positive", errUsage, s.Interval)
	}
	if s.Done == "" {
		s.Done = filepath.Join(s.Source, ".processed")
	}
	return nil
}

// runner ties the image source, the pipeline and the publisher together,
// and applies configuration changes without a restart.
type runner struct {
	p       *pipeline
	pub     *publisher
	log     *slog.Logger
	counts  counters
	mu      sync.Mutex
	st      settings
	changed chan struct{} // the source settings changed
	// sendBack decides which images go back with their results.
	sendBack   *sendback.Policy
	provenance provenance
	line       // camera and line-signal state
}

func (r *runner) settings() settings {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// feed runs the current source into paths, restarting it when the source
// settings change.
func (r *runner) feed(ctx context.Context, frames chan<- source.Frame) {
	defer close(frames)
	for ctx.Err() == nil {
		st := r.settings()
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			r.runSource(sctx, st, frames)
		}()
		select {
		case <-ctx.Done():
		case <-r.changed:
			r.log.Info("image source changed", "source", r.settings().Source, "replay", r.settings().Replay)
		}
		stop()
		<-done
	}
}

func (r *runner) emit(src source.Frame, res *infer.Result, _ stages) {
	st := r.settings()
	r.provenance.stamp(res)
	if r.limit.reached(r.counts.images.Load()) {
		return // past --frames: the run is ending
	}
	path := src.Path
	r.counts.images.Add(1)
	if res.Error != "" {
		r.counts.errors.Add(1)
		r.log.Warn("image skipped", "image", src.Name, "err", res.Error, "skipped_total", r.counts.errors.Load())
	} else if r.attach(res) {
		res.ImageData = src.Data
		if src.Image != nil {
			res.ImageData = encodeJPEG(src.Image)
		}
		if path != "" {
			res.ImageData, _ = os.ReadFile(path)
		}
	}
	r.decide(src, res)
	r.pub.Publish(context.Background(), res)
	if r.limit.reached(r.counts.images.Load()) {
		r.limit.stop()
	}
	if !st.Replay && path != "" {
		// Moving the image after its result is handed over means a restart
		// neither repeats nor loses it.
		os.MkdirAll(st.Done, 0o755) // the folder may have been recreated
		if err := os.Rename(path, filepath.Join(st.Done, filepath.Base(path))); err != nil {
			r.log.Warn("cannot move processed image", "image", path, "err", err)
		}
	}
}

func isImage(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return !strings.HasPrefix(filepath.Base(name), ".") && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")
}

// watchSource sends images already in dir (left from before a restart),
// then each new one. A file written as .tmp and renamed shows up under its
// final name. If the folder vanishes, it waits for it to come back.
func watchSource(ctx context.Context, dir string, out chan<- string, log *slog.Logger) {
	for ctx.Err() == nil {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			err = w.Add(dir)
		}
		if err != nil {
			log.Error("image folder unavailable; retrying", "dir", dir, "err", err)
			if w != nil {
				w.Close()
			}
			sleep(ctx, 2*time.Second)
			continue
		}
		seen := map[string]bool{}
		send := func(p string) bool {
			if seen[p] || !isImage(p) {
				return true
			}
			seen[p] = true
			select {
			case out <- p:
				return true
			case <-ctx.Done():
				return false
			}
		}
		entries, _ := os.ReadDir(dir)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
		slices.Sort(names)
		for _, n := range names {
			send(filepath.Join(dir, n))
		}
		gone := false
		for !gone && ctx.Err() == nil {
			select {
			case ev := <-w.Events:
				if ev.Name == dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
					gone = true
				} else if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) {
					if _, err := os.Stat(ev.Name); err == nil {
						send(ev.Name)
					}
				}
			case err := <-w.Errors:
				log.Warn("watching image folder", "err", err)
			case <-time.After(2 * time.Second):
				if _, err := os.Stat(dir); err != nil {
					gone = true
				}
			case <-ctx.Done():
			}
		}
		w.Close()
		if gone {
			log.Error("image folder vanished; waiting for it to come back", "dir", dir)
		}
	}
}

// replaySource cycles a folder's images at a fixed interval, as a camera
// would deliver them.
func replaySource(ctx context.Context, dir string, every time.Duration, out chan<- string, log *slog.Logger) {
	for ctx.Err() == nil {
		entries, err := os.ReadDir(dir)
		var imgs []string
		for _, e := range entries {
			if !e.IsDir() && isImage(e.Name()) {
				imgs = append(imgs, filepath.Join(dir, e.Name()))
			}
		}
		if err != nil || len(imgs) == 0 {
			log.Warn("no images to replay; waiting", "dir", dir, "err", err)
			sleep(ctx, 2*time.Second)
			continue
		}
		for _, p := range imgs {
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
			sleep(ctx, every)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// publisher hands results to the agent's local IPC endpoint when running
// as a component (VISE_IPC set), else prints them as JSON lines.
type publisher struct {
	w   io.Writer
	ipc *ipcClient
	log *slog.Logger
}

func newPublisher(ctx context.Context, stdout io.Writer, log *slog.Logger) (*publisher, error) {
	p := &publisher{w: stdout, log: log}
	if addr := os.Getenv("VISE_IPC"); addr != "" {
		c, err := dialIPC(ctx, addr, os.Getenv("VISE_COMPONENT"), os.Getenv("VISE_IPC_TOKEN"))
		if err != nil {
			return nil, err
		}
		p.ipc = c
	}
	return p, nil
}

// counters are what the runner has done, reported with its status.
type counters struct {
	images, errors atomic.Int64
	dropped        atomic.Int64 // camera frames the newest one replaced
	rejects        atomic.Int64 // reject verdicts
	sendBack       func() sendback.Counts
	health         func(*componentStatus)
	rateMu         sync.Mutex // guards the rate's last sample
	lastAt         time.Time
	lastImages     int64
}

func (c *counters) status() []byte { return c.report() }

// Ready tells the agent the component is healthy.
func (p *publisher) Ready(c *counters) {
	if p.ipc != nil {
		p.ipc.publish(context.Background(), "status", c.status())
	}
}

// reportEvery publishes the counters as the component's status.
func (p *publisher) reportEvery(ctx context.Context, every time.Duration, c *counters) {
	for ctx.Err() == nil {
		sleep(ctx, every)
		if p.ipc != nil {
			p.ipc.publish(ctx, "status", c.status())
		} else {
			p.log.Info("progress", "images", c.images.Load(), "skipped", c.errors.Load(), "dropped", c.dropped.Load())
		}
	}
}

func (p *publisher) Publish(ctx context.Context, r *infer.Result) {
	b, _ := json.Marshal(r)
	if p.ipc == nil {
		fmt.Fprintf(p.w, "%s\n", b)
		return
	}
	for ctx.Err() == nil {
		if err := p.ipc.publish(ctx, "results", b); err == nil {
			return
		} else {
			p.log.Warn("publish result to the agent; retrying", "err", err)
		}
		sleep(ctx, time.Second)
	}
}

func (p *publisher) Close() {
	if p.ipc != nil {
		p.ipc.close()
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
