package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/vise-edge/vise/sendback"
)

// config is a component's configuration (VISE_CONFIG, written by the agent:
// the recipe's defaults merged with the deployment's overrides). Command-line
// flags given explicitly win.
type config struct {
	Source     string   `json:"source"`
	Replay     *bool    `json:"replay"`
	Interval   string   `json:"interval"`
	Confidence *float64 `json:"confidence"`
	IoU        *float64 `json:"iou"`
	Threads    *int     `json:"threads"`
	Decoders   *int     `json:"decoders"`
	// Upload and Sample are the old send-back settings; SendBack replaces them.
	Upload   string          `json:"upload"`
	Sample   *float64        `json:"upload_sample"`
	SendBack json.RawMessage `json:"send_back"`
	// SourceByDevice gives devices of a group deployment their own camera
	// (by VISE_DEVICE, which the agent sets); others use Source.
	SourceByDevice map[string]string `json:"source_by_device"`
}

// sendBack is the send_back section checked, nil if the configuration
// has none; it and the old upload settings do not mix.
func (c config) sendBack() (*sendback.Config, error) {
	if len(c.SendBack) == 0 || string(c.SendBack) == "null" {
		return nil, nil
	}
	if c.Upload != "" || c.Sample != nil {
		return nil, fmt.Errorf("%w: send_back replaces upload and upload_sample: remove them from the configuration", errUsage)
	}
	sb, err := sendback.Parse(c.SendBack)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return &sb, nil
}

// source is the camera this device reads.
func (c config) source() string {
	if s, ok := c.SourceByDevice[os.Getenv("VISE_DEVICE")]; ok && s != "" {
		return s
	}
	return c.Source
}

func readConfig(path string) (config, time.Time, error) {
	var c config
	fi, err := os.Stat(path)
	if err != nil {
		return c, time.Time{}, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, time.Time{}, err
	}
	return c, fi.ModTime(), json.Unmarshal(b, &c)
}

// applyConfig sets flags the command line did not set from the config.
func applyConfig(fs *flag.FlagSet, c config) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	put := func(name, value string) {
		if !set[name] && value != "" {
			fs.Set(name, value)
		}
	}
	put("source", c.source())
	put("interval", c.Interval)
	put("upload", c.Upload)
	if c.Sample != nil {
		put("upload-sample", jsonText(*c.Sample))
	}
	if c.Replay != nil {
		put("replay", boolText(*c.Replay))
	}
	if c.Confidence != nil {
		put("conf", jsonText(*c.Confidence))
	}
	if c.IoU != nil {
		put("iou", jsonText(*c.IoU))
	}
	if c.Threads != nil {
		put("threads", jsonText(*c.Threads))
	}
	if c.Decoders != nil {
		put("decoders", jsonText(*c.Decoders))
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// watchConfig applies configuration changes without a restart: thresholds
// and the upload policy from the next image on, a new source or interval by
// restarting the image source.
func (r *runner) watchConfig(ctx context.Context, path string, since time.Time) {
	for ctx.Err() == nil {
		sleep(ctx, 2*time.Second)
		c, mod, err := readConfig(path)
		if err != nil || !mod.After(since) {
			continue
		}
		since = mod
		sb, err := c.sendBack()
		if err != nil {
			r.log.Warn("configuration change ignored", "err", err)
			continue
		}
		r.mu.Lock()
		old, st := r.st, r.st
		c.apply(&st)
		st.SendBack = sb
		policy, err := st.policy()
		if err == nil {
			err = st.checkAll()
		}
		if err != nil {
			r.mu.Unlock()
			r.log.Warn("configuration change ignored", "err", err)
			continue
		}
		r.st = st
		r.mu.Unlock()
		r.sendBack.Set(policy)
		r.p.setThresholds(float32(st.Conf), float32(st.IoU))
		if st.Source != old.Source || st.Replay != old.Replay || st.Interval != old.Interval {
			select {
			case r.changed <- struct{}{}:
			default:
			}
		}
		r.log.Info("configuration reloaded", "confidence", st.Conf, "iou", st.IoU, "source", st.Source, "upload", st.Upload)
	}
}

// apply overlays the set fields of c on st.
func (c config) apply(st *settings) {
	if src := c.source(); src != "" && src != st.Source {
		st.Source, st.Done = src, ""
	}
	if c.Replay != nil {
		st.Replay = *c.Replay
	}
	if d, err := time.ParseDuration(c.Interval); err == nil {
		st.Interval = d
	}
	if c.Confidence != nil {
		st.Conf = *c.Confidence
	}
	if c.IoU != nil {
		st.IoU = *c.IoU
	}
	if c.Upload != "" {
		st.Upload = c.Upload
	}
	if c.Sample != nil {
		st.Sample = *c.Sample
	}
}
