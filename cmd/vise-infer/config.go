package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"time"
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
	Upload     string   `json:"upload"`
	Sample     *float64 `json:"upload_sample"`
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
	put("source", c.Source)
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

// watchConfig reloads the thresholds when the configuration file changes,
// without a restart.
func watchConfig(ctx context.Context, path string, since time.Time, p *pipeline, conf, iou float32, log *slog.Logger) {
	for ctx.Err() == nil {
		sleep(ctx, 2*time.Second)
		c, mod, err := readConfig(path)
		if err != nil || !mod.After(since) {
			continue
		}
		since = mod
		if c.Confidence != nil {
			conf = float32(*c.Confidence)
		}
		if c.IoU != nil {
			iou = float32(*c.IoU)
		}
		p.setThresholds(conf, iou)
		log.Info("configuration reloaded", "confidence", conf, "iou", iou)
	}
}
