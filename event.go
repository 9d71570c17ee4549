package vise

import "time"

// Event is something that happened, recorded durably in the same transaction
// as the change, so subscribers (the pipeline engine, the dashboard) never
// miss one.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Subject   string    `json:"subject"`
	Data      []byte    `json:"data,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Event types.
const (
	EventModelRegistered   = "model.registered"
	EventModelApproved     = "model.approved"
	EventModelRejected     = "model.rejected"
	EventComponentCreated  = "component.created"
	EventDeploymentCreated = "deployment.created"
)
