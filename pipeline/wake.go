package pipeline

import (
	"context"
	"time"
)

// Waiting steps are woken by the devices: a step waiting on a deployment
// registers its job here when it snoozes, and a device's report on that
// deployment makes the job available at once instead of at the next poll.
// The registry is in memory and per server; polling covers the rest (a
// restart, another replica's steps).

// wakeGap keeps a burst of reports (a fleet answering at once) to one
// wake-up per deployment per gap.
const wakeGap = 200 * time.Millisecond

type waiter struct {
	job   int64
	woken time.Time
}

func (e *Engine) waitOn(deployment string, job int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if w, ok := e.waiters[deployment]; !ok || w.job != job {
		e.waiters[deployment] = &waiter{job: job}
	}
}

func (e *Engine) doneWaiting(job int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for d, w := range e.waiters {
		if w.job == job {
			delete(e.waiters, d)
		}
	}
}

// Wake tells the engine a device reported on a deployment.
func (e *Engine) Wake(ctx context.Context, deployment string) {
	e.mu.Lock()
	w, ok := e.waiters[deployment]
	if !ok || time.Since(w.woken) < wakeGap {
		e.mu.Unlock()
		return
	}
	w.woken = time.Now()
	job := w.job
	e.mu.Unlock()
	if _, err := e.river.JobRetry(ctx, job); err != nil {
		e.log.Debug("wake a waiting pipeline step", "job", job, "err", err)
	}
}
