package ingest

import (
	"context"
	"time"

	"github.com/vise-edge/vise"
)

// Results are stored by group commit: every caller of Result hands its
// parsed result to the one writer goroutine and waits; the writer takes
// all that is queued (up to MaxBatch) without waiting for more, stores it
// in one transaction and answers each caller. While a batch commits the
// next one gathers, so batches grow with the load and a lone result is not
// held back: latency is bounded by one commit of at most MaxBatch rows.

// pending is a result waiting for the writer, and where its answer goes.
type pending struct {
	r    vise.Result
	done func(answer) // called by the writer: must not block
}

type answer struct {
	inserted bool
	err      error
}

// insert stores r through the writer. An error means it was not stored, or
// that the caller stopped waiting (ctx): then it may have been stored after
// all, and the device's next send of it is a duplicate, which is harmless.
func (in *Ingester) insert(ctx context.Context, r vise.Result) (bool, error) {
	got := make(chan answer, 1)
	if err := in.enqueue(ctx, &pending{r: r, done: func(a answer) { got <- a }}); err != nil {
		return false, err
	}
	select {
	case a := <-got:
		return a.inserted, a.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// enqueue hands p to the writer, waiting while its queue is full.
func (in *Ingester) enqueue(ctx context.Context, p *pending) error {
	select {
	case in.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is the writer goroutine; it ends with the Ingester's context.
func (in *Ingester) write() {
	defer close(in.stopped)
	groupCommit(in.ctx, in.queue, in.maxBatch, in.commit)
}

// groupCommit hands commit what is queued, at least one and at most max,
// without waiting for more (a lone message is not held back; while one
// batch commits, the next gathers), until ctx ends.
func groupCommit[T any](ctx context.Context, queue <-chan T, max int, commit func([]T)) {
	batch := make([]T, 0, max)
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-queue:
			batch = append(batch[:0], p)
		}
	gather:
		for len(batch) < max {
			select {
			case p := <-queue:
				batch = append(batch, p)
			default:
				break gather
			}
		}
		commit(batch)
		clear(batch) // let the answered messages go
	}
}

// commit stores a batch in one transaction and answers its callers. When
// the database refuses the batch for a reason other than being away (a
// row it will not take), each result is tried alone, so one bad result
// cannot hold back the others of its batch forever.
func (in *Ingester) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	in.m.committing.Set(float64(len(batch)))
	defer in.m.committing.Set(0)
	start := time.Now()
	rs := make([]vise.Result, len(batch))
	for i, p := range batch {
		rs[i] = p.r
	}
	inserted, err := in.store.InsertResults(ctx, rs)
	in.m.batchSeconds.Observe(time.Since(start).Seconds())
	in.m.batchSize.Observe(float64(len(batch)))
	if err == nil {
		in.m.batches.WithLabelValues("stored").Inc()
		for i, p := range batch {
			p.done(answer{inserted: inserted[i]})
		}
		return
	}
	in.m.batches.WithLabelValues("failed").Inc()
	if len(batch) == 1 || vise.NotNow(err) {
		for _, p := range batch {
			p.done(answer{err: err})
		}
		return
	}
	in.log.Warn("a batch of results was refused; storing them one by one", "results", len(batch), "err", err)
	for _, p := range batch {
		in.commit([]*pending{p})
	}
}
