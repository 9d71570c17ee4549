package server

import (
	"context"
	"time"
)

// pruneResults deletes results past the retention, hourly.
func (s *Server) pruneResults(ctx context.Context) {
	for {
		n, err := s.Store.PruneResults(ctx, time.Now().Add(-s.cfg.ResultsRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("prune results", "err", err)
		case n > 0:
			s.log.Info("pruned old results", "count", n, "retention", s.cfg.ResultsRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}
