package ingest

import (
	"context"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Status reports are stored by group commit too, by their own writer: a
// rollout to a fleet makes every device report DOWNLOADING, INSTALLING and
// RUNNING within seconds, and one transaction (one WAL sync) each queued
// them behind the single SQLite writer for longer than the ingest timeout
// (decision 0025). A device's reports stay in order: the broker hands
// them over one at a time, each after the one before was answered.

// statusPending is a report waiting for the status writer.
type statusPending struct {
	r    store.StatusReport
	done chan error // buffered: the writer never waits for the caller
}

// recordStatus stores r through the status writer and returns its
// outcome: nil, not_found for a device that is not a target of the
// deployment it reports on, or why nothing was stored.
func (in *Ingester) recordStatus(ctx context.Context, r store.StatusReport) error {
	p := &statusPending{r: r, done: make(chan error, 1)}
	select {
	case in.statusQueue <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeStatuses is the status writer goroutine; it ends with the
// Ingester's context. Like write, it takes what is queued without waiting
// for more, so a lone report is not held back.
func (in *Ingester) writeStatuses() {
	defer close(in.statusStopped)
	groupCommit(in.ctx, in.statusQueue, in.maxBatch, in.commitStatuses)
}

// commitStatuses stores a batch in one transaction and answers each
// caller. A batch the database refuses for a reason other than being away
// is stored report by report, so one bad report does not fail the others.
func (in *Ingester) commitStatuses(batch []*statusPending) {
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	rs := make([]store.StatusReport, len(batch))
	for i, p := range batch {
		rs[i] = p.r
	}
	errs, err := in.store.RecordStatuses(ctx, rs)
	in.m.statusBatch.Observe(float64(len(batch)))
	if err == nil {
		for i, p := range batch {
			p.done <- errs[i]
		}
		return
	}
	if len(batch) == 1 || vise.NotNow(err) {
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	in.log.Warn("a batch of status reports was refused; storing them one by one", "reports", len(batch), "err", err)
	for _, p := range batch {
		in.commitStatuses([]*statusPending{p})
	}
}
