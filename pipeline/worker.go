package pipeline

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/riverqueue/river"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// stepArgs is the job that runs one step of one execution. The policies
// River needs before the definition is read travel with it.
type stepArgs struct {
	Execution  string        `json:"execution"`
	Step       string        `json:"step"`
	Action     string        `json:"action"`
	Timeout    time.Duration `json:"timeout"`
	Backoff    time.Duration `json:"backoff"`
	MaxBackoff time.Duration `json:"max_backoff"`
}

func (stepArgs) Kind() string { return "vise.pipeline.step" }

type stepWorker struct {
	river.WorkerDefaults[stepArgs]
	e *Engine
}

// checkTimeout bounds one check of a waiting step.
const checkTimeout = 30 * time.Second

// bookkeeping is the time an attempt keeps, after its action's deadline,
// to record what came of it.
const bookkeeping = 30 * time.Second

// attemptTimeout bounds one attempt of the action: the step's timeout, or
// for a waiting step one check of its condition.
func (a stepArgs) attemptTimeout() time.Duration {
	if actions[a.Action].waits {
		return checkTimeout
	}
	return a.Timeout
}

// Timeout is how long River lets one attempt run in all.
func (w *stepWorker) Timeout(job *river.Job[stepArgs]) time.Duration {
	return job.Args.attemptTimeout() + bookkeeping
}

// NextRetry backs off exponentially from the step's backoff.
func (w *stepWorker) NextRetry(job *river.Job[stepArgs]) time.Time {
	s := Step{Retry: Retry{Backoff: vise.Duration(job.Args.Backoff), MaxBackoff: vise.Duration(job.Args.MaxBackoff)}}
	return time.Now().Add(jitter(s.backoff(job.Attempt)))
}

// Work runs one attempt of a step (or one check of a waiting step) and
// records what came of it; the step's end, the execution's new state and
// the next step's job commit together with this job's completion.
func (w *stepWorker) Work(ctx context.Context, job *river.Job[stepArgs]) error {
	e, a := w.e, job.Args
	x, err := e.store.GetExecution(ctx, a.Execution)
	if vise.ErrorCode(err) == vise.CodeNotFound {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if x.Finished() { // canceled while this step was queued
		return e.finish(ctx, job, nil, store.StepResult{ExecID: x.ID, Step: a.Step, Status: vise.ExecutionCanceled,
			Attempts: job.Attempt, Error: "execution " + string(x.Status)})
	}
	d, _, err := e.definition(ctx, x.Pipeline, x.Version)
	if err != nil {
		return river.JobCancel(err)
	}
	step, ok := d.Step(a.Step)
	if !ok {
		return river.JobCancel(fmt.Errorf("pipeline %s version %d has no step %s", x.Pipeline, x.Version, a.Step))
	}
	sr, err := e.store.StartStep(ctx, x.ID, step.Name, step.Action, x.State)
	if err != nil {
		return err
	}
	if sr.FinishedAt != nil { // cannot happen: a step's end commits with its job's completion
		return river.JobCancel(fmt.Errorf("step %s of execution %s has already finished", step.Name, x.ID))
	}
	return e.attempt(ctx, job, x, d, step, sr)
}

// attempt runs the action once and decides: wait on, retry, or finish
// (to the next step, the catch step, or the end).
func (e *Engine) attempt(ctx context.Context, job *river.Job[stepArgs], x *vise.Execution, d *Definition, step *Step, sr *vise.StepRun) error {
	r := &run{exec: x, step: step, started: sr.StartedAt, state: maps.Clone(x.State), last: sr.Output,
		attempt: job.Attempt}
	actx, cancel := context.WithTimeout(ctx, job.Args.attemptTimeout())
	out, err := actions[step.Action].run(actx, &e.env, r)
	cancel()
	if err == nil && out.wait {
		if e.now().Before(sr.StartedAt.Add(time.Duration(step.Timeout))) {
			if err := e.store.NoteStep(ctx, x.ID, step.Name, vise.StepWaiting, job.Attempt, out.output, ""); err != nil {
				return err
			}
			if d, ok := out.output["deployment"].(string); ok && d != "" {
				e.waitOn(d, job.ID)
			}
			return river.JobSnooze(e.poll)
		}
		err = permanent{fmt.Errorf("timed out after %s: %s", time.Duration(step.Timeout), describe(out.output))}
	}
	if err != nil {
		var p permanent
		if !errors.As(err, &p) && job.Attempt < job.MaxAttempts {
			if nerr := e.store.NoteStep(ctx, x.ID, step.Name, vise.ExecutionRunning, job.Attempt, out.output, err.Error()); nerr != nil {
				return nerr
			}
			e.log.Warn("pipeline step attempt failed; retrying", "execution", x.ID, "step", step.Name, "attempt", job.Attempt, "err", err)
			return err
		}
		return e.finish(ctx, job, d, failed(x, step, r.state, out.output, job.Attempt, err))
	}
	maps.Copy(r.state, out.output)
	res := store.StepResult{ExecID: x.ID, Step: step.Name, Status: vise.ExecutionSucceeded, Attempts: job.Attempt,
		Output: out.output, State: r.state, Next: step.Next}
	if out.halt {
		res.Next = ""
	}
	if res.Next == "" {
		res.ExecStatus = vise.ExecutionSucceeded
		if step.End == "failed" && !out.halt {
			res.ExecStatus, res.ExecError = vise.ExecutionFailed, fmt.Sprint(r.state["failure"])
		}
	}
	return e.finish(ctx, job, d, res)
}

// failed is a step's final failure: to its catch step, or the end.
func failed(x *vise.Execution, step *Step, state, output map[string]any, attempts int, err error) store.StepResult {
	msg := fmt.Sprintf("step %s: %v", step.Name, err)
	if prev, ok := state["failure"]; ok {
		msg = fmt.Sprintf("%v; then %s", prev, msg) // a fallback failed too
	}
	state["failure"] = msg
	res := store.StepResult{ExecID: x.ID, Step: step.Name, Status: vise.ExecutionFailed, Attempts: attempts,
		Output: output, Error: err.Error(), State: state, Next: step.Catch}
	if res.Next == "" {
		res.ExecStatus, res.ExecError = vise.ExecutionFailed, msg
	}
	return res
}

// finish records a step's end and queues what follows, with this job's
// completion, in one transaction.
func (e *Engine) finish(ctx context.Context, job *river.Job[stepArgs], d *Definition, res store.StepResult) error {
	e.doneWaiting(job.ID)
	err := e.store.FinishStep(ctx, res, func(tx *sql.Tx, proceed bool) error {
		if next, ok := d.Step(res.Next); proceed && ok {
			if err := e.queue(ctx, tx, res.ExecID, next); err != nil {
				return err
			}
		}
		return complete(ctx, tx, job)
	})
	if err != nil {
		return err
	}
	if res.ExecStatus != "" {
		e.log.Info("pipeline execution finished", "execution", res.ExecID, "status", res.ExecStatus, "error", res.ExecError)
	}
	return nil
}

func describe(progress map[string]any) string {
	for _, k := range []string{"waiting_for", "unverified"} {
		if v, ok := progress[k]; ok {
			return fmt.Sprintf("%s %v", k, v)
		}
	}
	return "the condition did not hold"
}
