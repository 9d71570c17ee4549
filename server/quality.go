package server

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/quality"
	"github.com/vise-edge/vise/store"
)

// newQuality makes the model-quality monitor of the configuration; it
// judges uncertain frames by the labelling queue's window.
func newQuality(cfg Config, st *store.Store, uncertain *vise.ConfidenceWindow, reg prometheus.Registerer, log *slog.Logger) (*quality.Monitor, error) {
	margin, err := quality.ParseMargin(cfg.QualityMargin)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "--quality-margin: %w", err)
	}
	o := quality.Options{Store: st, Window: cfg.QualityWindow, Step: cfg.QualityStep, Uncertain: uncertain, Margin: margin,
		MinFrames: cfg.QualityMinFrames, Registerer: reg, Logger: log}
	if err := o.Check(); err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "%w: see --quality-window, --quality-step, --quality-min-frames", err)
	}
	return quality.New(o), nil
}
