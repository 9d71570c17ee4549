package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vise-edge/vise/infer"
)

func runCmd(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var c common
	c.register(fs)
	source := fs.String("source", os.Getenv("VISE_SOURCE"), "folder of camera images (env VISE_SOURCE)")
	done := fs.String("done", "", "move processed images here (default SOURCE/.processed); ignored with --replay")
	replay := fs.Bool("replay", false, "cycle the folder at --interval instead of watching it (a simulated camera)")
	interval := fs.Duration("interval", time.Second, "time between images with --replay")
	upload := fs.String("upload", "defects", "attach images to results sent to the agent: defects, all or none (printed results carry none unless set)")
	sample := fs.Float64("upload-sample", 0, "share of defect-free images attached too, for labelling (0-1)")
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
		cfgTime = mod
	}
	if *upload != "defects" && *upload != "all" && *upload != "none" {
		return fmt.Errorf("%w: --upload %q: use defects, all or none", errUsage, *upload)
	}
	if *source == "" {
		return fmt.Errorf("%w: no image folder: pass --source DIR", errUsage)
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
	p := newPipeline(sess, c.post(sess), model, log)
	if cfgPath != "" {
		go watchConfig(ctx, cfgPath, cfgTime, p, float32(c.conf), float32(c.iou), log)
	}
	paths := make(chan string)
	if *replay {
		go replaySource(ctx, *source, *interval, paths, log)
	} else {
		if *done == "" {
			*done = filepath.Join(*source, ".processed")
		}
		if err := os.MkdirAll(*done, 0o755); err != nil {
			return fmt.Errorf("processed-images folder: %w", err)
		}
		go watchSource(ctx, *source, paths, log)
	}
	if pub.ipc == nil && !flagSet(fs, "upload") {
		*upload = "none" // JSON lines on a terminal: no base64 images unless asked
	}
	var counts counters
	pub.Ready(&counts)
	go pub.reportEvery(ctx, 10*time.Second, &counts)
	log.Info("vise-infer running", "model", c.model, "source", *source, "replay", *replay, "input", fmt.Sprintf("%dx%d", sess.Contract.Width, sess.Contract.Height))
	p.run(ctx, paths, func(path string, r *infer.Result) {
		counts.images.Add(1)
		if r.Error != "" {
			counts.errors.Add(1)
			log.Warn("image skipped", "image", path, "err", r.Error, "skipped_total", counts.errors.Load())
		} else if attach(*upload, *sample, len(r.Detections)) {
			r.ImageData, _ = os.ReadFile(path)
		}
		pub.Publish(ctx, r)
		if !*replay {
			// Moving the image after its result is handed over means a
			// restart neither repeats nor loses it.
			os.MkdirAll(*done, 0o755) // the folder may have been recreated
			if err := os.Rename(path, filepath.Join(*done, filepath.Base(path))); err != nil {
				log.Warn("cannot move processed image", "image", path, "err", err)
			}
		}
	})
	return nil
}

func isImage(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return !strings.HasPrefix(filepath.Base(name), ".") && (ext == ".jpg" || ext == ".jpeg" || ext == ".png")
}

// watchSource sends images already in dir (left from before a restart),
// then each new one. A file written as .tmp and renamed shows up under its
// final name. If the folder vanishes, it waits for it to come back.
func watchSource(ctx context.Context, dir string, out chan<- string, log *slog.Logger) {
	defer close(out)
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
	defer close(out)
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
type counters struct{ images, errors atomic.Int64 }

func (c *counters) status() []byte {
	return []byte(fmt.Sprintf(`{"ready": true, "images": %d, "errors": %d}`, c.images.Load(), c.errors.Load()))
}

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
			p.log.Info("progress", "images", c.images.Load(), "skipped", c.errors.Load())
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

// attach decides whether an image goes to the server with its result.
func attach(policy string, sample float64, detections int) bool {
	switch policy {
	case "all":
		return true
	case "none":
		return false
	}
	return detections > 0 || rand.Float64() < sample
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
