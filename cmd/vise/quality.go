package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
)

// deviceQualityCmd shows a device's model quality: each model's baseline,
// the newest window and the drift markers.
func (a *app) deviceQualityCmd() *cobra.Command {
	var since time.Duration
	c := &cobra.Command{
		Use:   "quality NAME",
		Short: "Show a device's model quality against each model version's canary baseline, and drift events",
		Args:  exactArgs(1, "a device name"),
		RunE: func(c *cobra.Command, args []string) error {
			if since <= 0 {
				return fmt.Errorf("%w: --since %s: give a positive duration such as 6h", errUsage, since)
			}
			s, err := a.client().Quality(c.Context(), args[0], since)
			if err != nil {
				return err
			}
			return a.print(s, func(w *tabwriter.Writer) { printQuality(w, s) })
		},
	}
	c.Flags().DurationVar(&since, "since", 6*time.Hour, "how far back to look")
	return c
}

func printQuality(w *tabwriter.Writer, s *vise.QualitySeries) {
	fmt.Fprintf(w, "Device:\t%s\nWindow:\t%s, every %s\n", s.Device, s.Window, s.Step)
	for _, b := range s.Baselines {
		if b.Missing != "" {
			fmt.Fprintf(w, "Baseline %s:\tnone: %s\n", b.Model, b.Missing)
			continue
		}
		fmt.Fprintf(w, "Baseline %s:\t%s (canary %s, %d frames)\n", b.Model, statsText(b.QualityStats), b.Deployment, b.Frames)
	}
	latest := map[string]vise.QualityPoint{}
	for _, p := range s.Points {
		latest[p.Model] = p
	}
	for m, p := range latest {
		fmt.Fprintf(w, "Window %s:\t%s (%d frames, to %s)\n", m, statsText(p.QualityStats), p.Frames, p.At.Local().Format("15:04"))
	}
	for _, d := range s.Markers {
		what := "back within its margins"
		if d.Type == vise.EventQualityDrift {
			what = fmt.Sprintf("drift: %v", d.Departed)
		}
		fmt.Fprintf(w, "%s:\t%s %s\n", d.At.Local().Format("2006-01-02 15:04"), d.Model, what)
	}
}

func statsText(s vise.QualityStats) string {
	conf := "-"
	if s.MeanTopConfidence != nil {
		conf = fmt.Sprintf("%.3f", *s.MeanTopConfidence)
	}
	return fmt.Sprintf("defect rate %.3f, mean top confidence %s, uncertain %.3f", s.DefectRate, conf, s.UncertainShare)
}
