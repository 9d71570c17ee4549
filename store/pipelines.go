package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/vise-edge/vise"
)

// PutDefinition stores a pipeline definition as its next version, unless
// the newest version has the same digest: then that one is returned and
// created is false.
func (s *Store) PutDefinition(ctx context.Context, d vise.PipelineDefinition) (_ *vise.PipelineDefinition, created bool, err error) {
	err = s.write(ctx, "put pipeline definition", func(t *tx) error {
		var newest int
		var digest string
		err := t.queryRow(`SELECT version, digest FROM pipeline_definitions WHERE name = ? ORDER BY version DESC LIMIT 1`, d.Name).Scan(&newest, &digest)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if digest == d.Digest {
			d.Version = newest
			return nil
		}
		d.Version, d.CreatedAt, created = newest+1, s.clock(), true
		if _, err := t.exec(`INSERT INTO pipeline_definitions (name, version, description, body, digest, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, d.Name, d.Version, d.Description, d.Body, d.Digest, d.CreatedBy, micros(d.CreatedAt)); err != nil {
			return err
		}
		return t.emit("pipeline.defined", d.Name+"/"+itoa(d.Version), map[string]any{"digest": d.Digest, "by": d.CreatedBy})
	})
	if err != nil {
		return nil, false, err
	}
	if !created {
		got, err := s.GetDefinition(ctx, d.Name, d.Version)
		return got, false, err
	}
	return &d, true, nil
}

const definitionCols = `name, version, description, body, digest, created_by, created_at`

func scanDefinition(row scanner) (*vise.PipelineDefinition, error) {
	var d vise.PipelineDefinition
	var at int64
	err := row.Scan(&d.Name, &d.Version, &d.Description, &d.Body, &d.Digest, &d.CreatedBy, &at)
	d.CreatedAt = fromMicros(at)
	return &d, err
}

// GetDefinition returns one version of a pipeline, the newest for version 0.
func (s *Store) GetDefinition(ctx context.Context, name string, version int) (*vise.PipelineDefinition, error) {
	d, err := scanDefinition(s.queryRow(ctx, `SELECT `+definitionCols+` FROM pipeline_definitions
		WHERE name = ? AND (? = 0 OR version = ?) ORDER BY version DESC LIMIT 1`, name, version, version))
	if errors.Is(err, sql.ErrNoRows) {
		if version > 0 {
			return nil, vise.Errorf(vise.CodeNotFound, "pipeline %s has no version %d; 'vise pipeline list' shows the pipelines", name, version)
		}
		return nil, vise.Errorf(vise.CodeNotFound, "pipeline %s not found; 'vise pipeline list' shows the pipelines, 'vise pipeline apply FILE' adds one", name)
	}
	if err != nil {
		return nil, s.classify("get pipeline definition", err)
	}
	return d, nil
}

// ListDefinitions returns the newest version of every pipeline, by name.
func (s *Store) ListDefinitions(ctx context.Context) ([]*vise.PipelineDefinition, error) {
	return list(ctx, s, "list pipeline definitions", scanDefinition, `SELECT `+definitionCols+` FROM pipeline_definitions d
		WHERE version = (SELECT MAX(version) FROM pipeline_definitions WHERE name = d.name) ORDER BY name`)
}

// CreateExecution stores a new RUNNING execution (ID and times are set
// here); then runs in the same transaction, to queue its first step.
func (s *Store) CreateExecution(ctx context.Context, e *vise.Execution, then func(*sql.Tx) error) error {
	now := s.clock()
	e.ID, e.Status, e.CreatedAt, e.UpdatedAt = s.newID(), vise.ExecutionRunning, now, now
	if e.State == nil {
		e.State = map[string]any{}
	}
	return s.write(ctx, "start pipeline execution", func(t *tx) error {
		params, err := jsonText(e.Params)
		if err != nil {
			return err
		}
		state, err := jsonText(e.State)
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO pipeline_executions (id, pipeline, version, params, state, status, step, cause, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.Pipeline, e.Version, params, state, e.Status, e.Step, e.Cause,
			micros(now), micros(now)); err != nil {
			return err
		}
		if err := t.emit(vise.EventExecutionStarted, e.ID, map[string]any{"pipeline": e.Pipeline, "version": e.Version,
			"params": e.Params, "cause": e.Cause}); err != nil {
			return err
		}
		return then(t.tx)
	})
}

// StartStep records that a step began (once: a retry or a resumed step
// keeps its first start) and returns its history row.
func (s *Store) StartStep(ctx context.Context, execID, step, action string, input any) (*vise.StepRun, error) {
	err := s.write(ctx, "start pipeline step", func(t *tx) error {
		in, err := jsonText(input)
		if err != nil {
			return err
		}
		now := micros(s.clock())
		if _, err := t.exec(`INSERT INTO pipeline_steps (execution_id, step, seq, action, status, input, started_at)
			VALUES (?, ?, (SELECT COUNT(*) + 1 FROM pipeline_steps WHERE execution_id = ?), ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			execID, step, execID, action, vise.ExecutionRunning, in, now); err != nil {
			return err
		}
		_, err = t.exec(`UPDATE pipeline_executions SET step = ?, updated_at = ? WHERE id = ?`, step, now, execID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return scanStep(s.queryRow(ctx, `SELECT `+stepCols+` FROM pipeline_steps WHERE execution_id = ? AND step = ?`, execID, step))
}

// NoteStep records a step's progress short of finishing: an attempt that
// failed and will be retried, or a wait that goes on (status WAITING).
func (s *Store) NoteStep(ctx context.Context, execID, step string, status vise.ExecutionState, attempts int, output any, msg string) error {
	return s.write(ctx, "note pipeline step", func(t *tx) error {
		out, err := jsonText(output)
		if err != nil {
			return err
		}
		_, err = t.exec(`UPDATE pipeline_steps SET status = ?, attempts = ?, output = ?, error = ? WHERE execution_id = ? AND step = ?`,
			status, attempts, out, msg, execID, step)
		return err
	})
}

// StepResult is how a step ended and where the execution goes next.
type StepResult struct {
	ExecID, Step string
	Status       vise.ExecutionState // SUCCEEDED or FAILED
	Attempts     int
	Output       any
	Error        string
	State        map[string]any // the execution's state after the step
	// Next is the step to run next; when empty, the execution ends with
	// ExecStatus and ExecError.
	Next       string
	ExecStatus vise.ExecutionState
	ExecError  string
}

// FinishStep records a step's end and moves the execution on, in one
// transaction with then (which completes the step's job and queues the
// next). An execution cancelled meanwhile keeps its status: then is told
// not to proceed.
func (s *Store) FinishStep(ctx context.Context, r StepResult, then func(tx *sql.Tx, proceed bool) error) error {
	return s.write(ctx, "finish pipeline step", func(t *tx) error {
		var status vise.ExecutionState
		if err := t.queryRow(`SELECT status FROM pipeline_executions WHERE id = ?`, r.ExecID).Scan(&status); err != nil {
			return err
		}
		out, err := jsonText(r.Output)
		if err != nil {
			return err
		}
		now := micros(s.clock())
		if _, err := t.exec(`UPDATE pipeline_steps SET status = ?, attempts = ?, output = ?, error = ?, finished_at = ?
			WHERE execution_id = ? AND step = ?`, r.Status, r.Attempts, out, r.Error, now, r.ExecID, r.Step); err != nil {
			return err
		}
		if status != vise.ExecutionRunning {
			return then(t.tx, false)
		}
		state, err := jsonText(r.State)
		if err != nil {
			return err
		}
		if r.Next != "" {
			if _, err := t.exec(`UPDATE pipeline_executions SET state = ?, step = ?, updated_at = ? WHERE id = ?`,
				state, r.Next, now, r.ExecID); err != nil {
				return err
			}
			return then(t.tx, true)
		}
		if _, err := t.exec(`UPDATE pipeline_executions SET state = ?, status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
			state, r.ExecStatus, r.ExecError, now, now, r.ExecID); err != nil {
			return err
		}
		if err := t.emit(vise.EventExecutionFinished, r.ExecID, map[string]string{"status": string(r.ExecStatus), "error": r.ExecError}); err != nil {
			return err
		}
		return then(t.tx, false)
	})
}

// CancelExecution ends a running execution as CANCELED; the step in
// progress finishes its current attempt and nothing further runs.
func (s *Store) CancelExecution(ctx context.Context, id, by string) (*vise.Execution, error) {
	err := s.write(ctx, "cancel pipeline execution", func(t *tx) error {
		var status vise.ExecutionState
		err := t.queryRow(`SELECT status FROM pipeline_executions WHERE id = ?`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return executionNotFound(id)
		}
		if err != nil {
			return err
		}
		if status != vise.ExecutionRunning {
			return vise.Errorf(vise.CodeConflict, "execution %s already ended %s", id, status)
		}
		now := micros(s.clock())
		if _, err := t.exec(`UPDATE pipeline_executions SET status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
			vise.ExecutionCanceled, "canceled by "+by, now, now, id); err != nil {
			return err
		}
		return t.emit(vise.EventExecutionFinished, id, map[string]string{"status": string(vise.ExecutionCanceled), "by": by})
	})
	if err != nil {
		return nil, err
	}
	return s.GetExecution(ctx, id)
}

func executionNotFound(id string) error {
	return vise.Errorf(vise.CodeNotFound, "execution %s not found; 'vise pipeline executions' lists them", id)
}

const executionCols = `id, pipeline, version, params, state, status, step, error, cause, created_at, updated_at, finished_at`

func scanExecution(row scanner) (*vise.Execution, error) {
	var e vise.Execution
	var params, state string
	var created, updated int64
	var finished sql.NullInt64
	if err := row.Scan(&e.ID, &e.Pipeline, &e.Version, &params, &state, &e.Status, &e.Step, &e.Error, &e.Cause,
		&created, &updated, &finished); err != nil {
		return nil, err
	}
	e.CreatedAt, e.UpdatedAt, e.FinishedAt = fromMicros(created), fromMicros(updated), fromNullMicros(finished)
	return &e, scanJSON(params, &e.Params, state, &e.State)
}

const stepCols = `seq, step, action, status, input, output, error, attempts, started_at, finished_at`

func scanStep(row scanner) (*vise.StepRun, error) {
	var r vise.StepRun
	var in, out string
	var started int64
	var finished sql.NullInt64
	if err := row.Scan(&r.Seq, &r.Step, &r.Action, &r.Status, &in, &out, &r.Error, &r.Attempts, &started, &finished); err != nil {
		return nil, err
	}
	r.Input, r.Output = rawJSON(in), rawJSON(out)
	r.StartedAt, r.FinishedAt = fromMicros(started), fromNullMicros(finished)
	return &r, nil
}

func rawJSON(s string) json.RawMessage {
	if s == "" || s == "null" {
		return nil
	}
	return json.RawMessage(s)
}

// GetExecution returns an execution with its step history in order.
func (s *Store) GetExecution(ctx context.Context, id string) (*vise.Execution, error) {
	e, err := scanExecution(s.queryRow(ctx, `SELECT `+executionCols+` FROM pipeline_executions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, executionNotFound(id)
	}
	if err != nil {
		return nil, s.classify("get pipeline execution", err)
	}
	steps, err := list(ctx, s, "get pipeline execution", scanStep, `SELECT `+stepCols+` FROM pipeline_steps WHERE execution_id = ? ORDER BY seq`, id)
	for _, r := range steps {
		e.Steps = append(e.Steps, *r)
	}
	return e, err
}

// ListExecutions returns executions newest first, at most limit (default
// 100), optionally of one pipeline only.
func (s *Store) ListExecutions(ctx context.Context, pipeline string, limit int) ([]*vise.Execution, error) {
	limit = listLimit(limit, vise.DefaultListLimit)
	return list(ctx, s, "list pipeline executions", scanExecution, `SELECT `+executionCols+` FROM pipeline_executions
		WHERE (? = '' OR pipeline = ?) ORDER BY id DESC LIMIT ?`, pipeline, pipeline, limit)
}

// SetModelTargets replaces where a model group's approved versions are
// deployed (an empty list: nowhere, automatically).
func (s *Store) SetModelTargets(ctx context.Context, group string, targets []vise.ModelTarget) error {
	return s.write(ctx, "set model targets", func(t *tx) error {
		var n int
		if err := t.queryRow(`SELECT COUNT(*) FROM model_groups WHERE name = ?`, group).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return vise.Errorf(vise.CodeNotFound, "model %s not found; register a version first with 'vise model register %s FILE'", group, group)
		}
		if _, err := t.exec(`DELETE FROM model_targets WHERE group_name = ?`, group); err != nil {
			return err
		}
		now := micros(s.clock())
		for _, mt := range targets {
			if _, err := t.exec(`INSERT INTO model_targets (group_name, target, pipeline, created_at) VALUES (?, ?, ?, ?)`,
				group, mt.Target, mt.Pipeline, now); err != nil {
				return err
			}
		}
		return t.emit("model.targets_set", group, targets)
	})
}

// ModelTargets lists where a model group's approved versions go.
func (s *Store) ModelTargets(ctx context.Context, group string) ([]vise.ModelTarget, error) {
	return list(ctx, s, "list model targets", func(row scanner) (mt vise.ModelTarget, err error) {
		return mt, row.Scan(&mt.Target, &mt.Pipeline)
	}, `SELECT target, pipeline FROM model_targets WHERE group_name = ? ORDER BY target`, group)
}
