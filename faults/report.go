package faults

// Report is the rehearsal's outcome, printed as JSON by `vise sim --faults`.
type Report struct {
	Spec      string `json:"spec"`
	Devices   int    `json:"devices"`
	Published int    `json:"results_published"`
	// PublishedPerSec is the rate results were offered at, over the
	// time they were.
	PublishedPerSec float64 `json:"results_published_per_sec"`
	Stored          int     `json:"results_stored"`     // distinct msg_ids the server holds
	Lost            int     `json:"results_lost"`       // published, never stored
	Duplicated      int     `json:"results_duplicated"` // msg_ids stored more than once
	Unexpected      int     `json:"results_unexpected"` // stored, never published
	// Redelivered counts results the server was sent again after storing
	// them (an acknowledgement lost to a fault) and did not store again.
	Redelivered int64 `json:"results_redelivered"`
	// Deployment is the rollout the faults struck, if any.
	Deployment *DeploymentOutcome `json:"deployment,omitempty"`
	Faults     []FaultOutcome     `json:"faults"`
	// RecoverMaxSeconds is the longest time to recover of any fault.
	RecoverMaxSeconds float64 `json:"recover_max_seconds"`
	// Ok: nothing lost or duplicated, the deployment converged and every
	// fault fired and recovered.
	Ok bool `json:"ok"`
}

// DeploymentOutcome is where a rollout ended on each device.
type DeploymentOutcome struct {
	ID        string `json:"id"`
	Running   int    `json:"devices_running"`
	Failed    int    `json:"devices_failed"`
	Rollbacks int    `json:"rollbacks"` // devices that went back to their last good generation
	Converged bool   `json:"converged"` // every device RUNNING it
	// ConvergedSeconds is from the deployment's creation to the last
	// device RUNNING.
	ConvergedSeconds float64  `json:"converged_seconds"`
	Failures         []string `json:"failures,omitempty"`
	// Pending are the devices neither RUNNING nor FAILED at the end, with
	// where each stood.
	Pending []string `json:"pending,omitempty"`
}

// FaultOutcome is what one fault did and how long the fleet took to get
// over it.
type FaultOutcome struct {
	Fault   string  `json:"fault"`
	AtSec   float64 `json:"at_seconds"` // when it fired, from the rehearsal's start
	Devices int     `json:"devices,omitempty"`
	Fired   bool    `json:"fired"`
	// Effect is the evidence the fault happened, in the fault's terms:
	// connections cut or dropped, old and new server pids, writes refused,
	// the phase a killed agent was in.
	Effect map[string]any `json:"effect,omitempty"`
	// RecoverSeconds is from the fault's end to every device it struck
	// connected again (and, for agent-kill, RUNNING the deployment); -1 if
	// it never recovered.
	RecoverSeconds float64 `json:"recover_seconds"`
}

// Tally compares the published msg_ids with what the server stored (rows
// per msg_id): lost are published ids with no row, duplicated ids with more
// than one row, unexpected rows with an id never published.
func Tally(published []string, stored map[string]int) (lost, duplicated, unexpected int) {
	pub := make(map[string]bool, len(published))
	for _, id := range published {
		if stored[id] == 0 {
			lost++
		}
		pub[id] = true
	}
	for id, n := range stored {
		if n > 1 {
			duplicated++
		}
		if !pub[id] {
			unexpected++
		}
	}
	return lost, duplicated, unexpected
}

// Finish fills the totals and the verdict.
func (r *Report) Finish() {
	r.Ok = r.Lost == 0 && r.Duplicated == 0 && r.Unexpected == 0 && (r.Deployment == nil || r.Deployment.Converged)
	for _, f := range r.Faults {
		r.RecoverMaxSeconds = max(r.RecoverMaxSeconds, f.RecoverSeconds)
		if !f.Fired || f.RecoverSeconds < 0 {
			r.Ok = false
		}
	}
}
