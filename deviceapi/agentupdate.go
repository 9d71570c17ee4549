package deviceapi

import "strings"

// The agent is itself a component: a deployment that names AgentComponent
// replaces the agent binary (see docs/decisions/0021).
const (
	// AgentComponent is the component name of the device's own agent.
	AgentComponent = "vise.agent"
	// AgentArtifact is the one artifact of an AgentComponent recipe: the
	// vise-agent executable.
	AgentArtifact = "bin/vise-agent"
	// CandidateTimeoutKey is the AgentComponent configuration key that
	// bounds how long a new agent has to prove itself (a Go duration,
	// default DefaultCandidateTimeout).
	CandidateTimeoutKey = "candidate_timeout"
	// DefaultCandidateTimeout is the candidate's time to connect and
	// report healthy when the recipe does not say.
	DefaultCandidateTimeout = "60s"

	// candidateSuffix cannot occur in a device name (letters, digits,
	// '.', '_', '-'), so no device's own client id ends in it.
	candidateSuffix = "~candidate"
)

// CandidateClientID is the MQTT client id a new agent binary connects with
// while the running agent keeps the device's own client id: two sessions
// with one client id would take each other over [MQTT-3.1.4-3].
func CandidateClientID(device string) string { return device + candidateSuffix }

// ClientDevice is the device an MQTT client id speaks for: the id itself,
// or the device of a candidate's id. The broker checks it against the
// client certificate, and the topic rule applies to it unchanged.
func ClientDevice(clientID string) (device string, candidate bool) {
	if d, ok := strings.CutSuffix(clientID, candidateSuffix); ok {
		return d, true
	}
	return clientID, false
}

// CandidateTopic is where a candidate agent publishes its proof that it
// may publish as its device (QoS 1, acknowledged by the broker). Nobody
// subscribes to it.
func CandidateTopic(device string) string { return DeviceTopic(device) + "/candidate" }
