package vise

import (
	"github.com/vise-edge/vise/deviceapi"

	"encoding/json"
	"strings"
	"time"
)

// Device is an edge box running the agent. Its name is its identity in
// topics, certificates and URLs.
type Device struct {
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Groups     []string          `json:"groups,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	LastSeenAt *time.Time        `json:"last_seen_at,omitempty"`
	// Generation is the agent's committed generation, reported by the device.
	Generation int64      `json:"generation"`
	EnrolledAt *time.Time `json:"enrolled_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Status is the device's last status report (components, telemetry).
	Status json.RawMessage `json:"status,omitempty"`
}

// Revocation answers a revoke: the device, and, with an external MQTT
// broker that checks a CRL, what became of that CRL.
type Revocation struct {
	Device
	CRL *CRLUpdate `json:"crl,omitempty"`
}

// CRLUpdate is what the server did to keep revoked devices off an external
// broker: the certificate revocation list it wrote, and whether it had the
// broker reload it (Mosquitto reads its crlfile only at start and on
// SIGHUP).
type CRLUpdate struct {
	File    string `json:"file"`
	Revoked int    `json:"revoked"`         // certificates the CRL lists
	Error   string `json:"error,omitempty"` // why the CRL could not be written
	// ReloadCommand ran after the write; Reloaded tells whether it
	// succeeded, ReloadOutput is what it said if it failed.
	ReloadCommand string `json:"reload_command,omitempty"`
	Reloaded      bool   `json:"reloaded"`
	ReloadOutput  string `json:"reload_output,omitempty"`
	// Next is what the operator must still do, if anything.
	Next string `json:"next,omitempty"`
}

// Group is a named set of devices a deployment can target.
type Group struct {
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Devices     []string  `json:"devices"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateDeviceRequest adds a device record (enrollment comes with the agent).
type CreateDeviceRequest struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Groups []string          `json:"groups,omitempty"`
}

// CreateGroupRequest adds a group.
type CreateGroupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Target kinds of a deployment.
const (
	TargetDevice = "device"
	TargetGroup  = "group"
)

// Target is what a deployment is for.
type Target = deviceapi.Target

// ComponentRef names one component version.
type ComponentRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (c ComponentRef) String() string { return c.Name + "@" + c.Version }

// ParseComponentRef reads NAME[@VERSION], the form String writes; without
// a version, the newest is meant.
func ParseComponentRef(s string) ComponentRef {
	name, version, _ := strings.Cut(s, "@")
	return ComponentRef{Name: name, Version: version}
}

// RolloutPolicy paces a deployment over a group.
type RolloutPolicy struct {
	CanaryFraction float64  `json:"canary_fraction,omitempty"` // share of devices updated first, 0 = none
	PerMinute      int      `json:"per_minute,omitempty"`      // devices started per minute, 0 = all at once
	AbortThreshold float64  `json:"abort_threshold,omitempty"` // failure share that stops the rollout
	DeviceTimeout  Duration `json:"device_timeout,omitempty"`  // per device deadline to become healthy
}

// Failure policies.
const (
	FailureRollback = "rollback"
	FailureNone     = "none"
)

// DeploymentState is the state of a deployment as a whole. States are
// typed so a device's or an execution's "FAILED" cannot stand in for it.
type DeploymentState string

// Deployment states (of the whole).
const (
	DeploymentInProgress DeploymentState = "IN_PROGRESS"
	DeploymentSucceeded  DeploymentState = "SUCCEEDED"
	DeploymentFailed     DeploymentState = "FAILED"
	DeploymentCanceled   DeploymentState = "CANCELED"
	DeploymentSuperseded DeploymentState = "SUPERSEDED"
)

// DeviceState is a device's progress on one deployment; the device reports
// it, so its one type is in deviceapi.
type DeviceState = deviceapi.DeviceState

// Device states (of one device).
const (
	DevicePending     = deviceapi.DevicePending
	DeviceDownloading = deviceapi.DeviceDownloading
	DeviceInstalling  = deviceapi.DeviceInstalling
	DeviceRunning     = deviceapi.DeviceRunning
	DeviceFailed      = deviceapi.DeviceFailed
	DeviceRolledBack  = deviceapi.DeviceRolledBack
	DeviceCanceled    = deviceapi.DeviceCanceled
	DeviceSuperseded  = deviceapi.DeviceSuperseded
)

// Deployment is a set of component versions for a target.
type Deployment struct {
	ID     string `json:"id"`
	Target Target `json:"target"`
	// Components is the resolved set, hard dependencies included, in start order.
	Components    []ComponentRef            `json:"components"`
	Configuration map[string]map[string]any `json:"configuration,omitempty"` // per component overrides
	Rollout       RolloutPolicy             `json:"rollout"`
	FailurePolicy string                    `json:"failure_policy"`
	Status        DeploymentState           `json:"status"`
	Message       string                    `json:"message,omitempty"`
	CreatedBy     string                    `json:"created_by,omitempty"`
	CreatedAt     time.Time                 `json:"created_at"`
	UpdatedAt     time.Time                 `json:"updated_at"`
	Devices       []DeviceDeployment        `json:"devices,omitempty"`
}

// DeviceDeployment is a deployment's progress on one device.
type DeviceDeployment struct {
	Device    string      `json:"device"`
	State     DeviceState `json:"state"`
	Message   string      `json:"message,omitempty"`
	UpdatedAt time.Time   `json:"updated_at"`
}

// CreateDeploymentRequest asks for a deployment. Component versions may be
// exact ("1.2.0"), a semver range ("^1.2"), or empty for the newest.
type CreateDeploymentRequest struct {
	Target        Target                    `json:"target"`
	Components    []ComponentRef            `json:"components"`
	Configuration map[string]map[string]any `json:"configuration,omitempty"`
	Rollout       RolloutPolicy             `json:"rollout,omitempty"`
	FailurePolicy string                    `json:"failure_policy,omitempty"`
	// Devices, if given, limits a group deployment to these members: a
	// canary stage. The rest of the group is left as it is.
	Devices []string `json:"devices,omitempty"`
}
