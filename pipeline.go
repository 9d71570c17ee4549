package vise

import (
	"encoding/json"
	"time"
)

// PipelineDefinition is one version of a pipeline: the YAML a user wrote
// (or the built-in one), kept verbatim so an execution can be traced to
// exactly what it ran.
type PipelineDefinition struct {
	Name        string    `json:"name"`
	Version     int       `json:"version"`
	Description string    `json:"description,omitempty"`
	Body        string    `json:"body"`
	Digest      string    `json:"digest"`
	CreatedBy   string    `json:"created_by,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// ExecutionState is the status of a pipeline execution or of one of its
// step runs. Typed so a deployment's or a device's "FAILED" cannot stand in
// for it.
type ExecutionState string

// Execution statuses; step runs use the same words (a step also WAITS).
const (
	ExecutionRunning   ExecutionState = "RUNNING"
	ExecutionSucceeded ExecutionState = "SUCCEEDED"
	ExecutionFailed    ExecutionState = "FAILED"
	ExecutionCanceled  ExecutionState = "CANCELED"
	StepWaiting        ExecutionState = "WAITING"
)

// Execution is one run of a pipeline definition version.
type Execution struct {
	ID       string            `json:"id"`
	Pipeline string            `json:"pipeline"`
	Version  int               `json:"version"`
	Params   map[string]string `json:"params"`
	// State accumulates what steps produced (the model component made,
	// the deployment created, the one it replaced), as steps read it.
	State      map[string]any `json:"state"`
	Status     ExecutionState `json:"status"`
	Step       string         `json:"step,omitempty"` // the step running now, or the last one
	Error      string         `json:"error,omitempty"`
	Cause      string         `json:"cause,omitempty"` // what started it: a user, an approval
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Steps      []StepRun      `json:"steps,omitempty"`
}

// Finished reports whether the execution has ended.
func (e *Execution) Finished() bool { return e.Status != ExecutionRunning }

// StepRun is the history of one step in one execution.
type StepRun struct {
	Seq        int             `json:"seq"`
	Step       string          `json:"step"`
	Action     string          `json:"action"`
	Status     ExecutionState  `json:"status"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	Attempts   int             `json:"attempts"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

// RunPipelineRequest starts an execution of the newest version of a
// pipeline with these parameters.
type RunPipelineRequest struct {
	Params map[string]string `json:"params,omitempty"`
}

// ModelTarget says where a model group's approved versions go, and by which
// pipeline.
type ModelTarget struct {
	Target   string `json:"target"` // "group:NAME" or "device:NAME"
	Pipeline string `json:"pipeline"`
}

// Pipeline events.
const (
	EventExecutionStarted  = "execution.started"
	EventExecutionFinished = "execution.finished"
)
