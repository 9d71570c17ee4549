package vise

import (
	"fmt"
	"math"
	"regexp"
	"sync"
	"time"
)

// Approval status of a model version.
type ApprovalStatus string

const (
	PendingManualApproval ApprovalStatus = "PendingManualApproval"
	Approved              ApprovalStatus = "Approved"
	Rejected              ApprovalStatus = "Rejected"
)

// ModelGroup is a named line of model versions, e.g. "metal-tags".
type ModelGroup struct {
	Name          string    `json:"name"`
	Description   string    `json:"description,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	VersionCount  int       `json:"version_count"`
	LatestVersion int       `json:"latest_version"`
	// LatestApproved is the newest Approved version, 0 if none.
	LatestApproved int `json:"latest_approved"`
}

// TensorSpec describes a model input or output as read from the ONNX file.
// Shape holds -1 for a dimension that is not fixed (named or unknown).
type TensorSpec struct {
	Name     string   `json:"name"`
	ElemType string   `json:"elem_type"`
	Shape    []int64  `json:"shape"`
	DimNames []string `json:"dim_names,omitempty"` // symbolic names of non-fixed dims, "" for fixed ones
}

// Lineage records where a model version came from, so a result on the floor
// can be traced back to its data and code.
type Lineage struct {
	// Dataset is the dataset version trained on, NAME@VERSION, when the
	// model was trained from one; DatasetDigest is that version's digest
	// (or, for a folder, the trainer's digest of its files).
	Dataset       string `json:"dataset,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
	// Benchmark is the dataset version the model was scored on against the
	// approved one, NAME@VERSION.
	Benchmark   string            `json:"benchmark,omitempty"`
	TrainingRun string            `json:"training_run,omitempty"`
	CodeVersion string            `json:"code_version,omitempty"`
	Params      map[string]string `json:"params,omitempty"`

	// A version made from another version of the same model (an INT8 one
	// quantized from its float parent) names its parent and how it was made.
	ParentVersion      int    `json:"parent_version,omitempty"`
	Variant            string `json:"variant,omitempty"` // VariantInt8, or empty for a float model
	CalibrationDigest  string `json:"calibration_digest,omitempty"`
	QuantizationMethod string `json:"quantization_method,omitempty"`
}

// VariantInt8 marks a model version quantized to INT8. The registry sets it
// from the ONNX file itself (metadata QuantizationMetadataKey), and
// edge-deploy's `variant` parameter selects by it.
const VariantInt8 = "int8"

// QuantizationMetadataKey is the ONNX metadata property a quantized model
// carries (written by vise-infer quantize).
const QuantizationMetadataKey = "vise_quantization"

// MaxDerivedMAP50Drop is how much mAP50 a derived version (INT8) may lose
// against its parent, both measured on the same images (metrics map50 and
// parent_map50); a version that loses more is registered as Rejected.
const MaxDerivedMAP50Drop = 0.01

// Approval is the decision on a model version: who, when and why.
type Approval struct {
	Status ApprovalStatus `json:"status"`
	By     string         `json:"by,omitempty"`
	At     *time.Time     `json:"at,omitempty"`
	Reason string         `json:"reason,omitempty"`
}

// ModelVersion is one registered ONNX artifact of a model group.
type ModelVersion struct {
	Group       string             `json:"group"`
	Version     int                `json:"version"`
	Artifact    Artifact           `json:"artifact"`
	Format      string             `json:"format"`
	Producer    string             `json:"producer,omitempty"`
	Inputs      []TensorSpec       `json:"inputs"`
	Outputs     []TensorSpec       `json:"outputs"`
	ClassNames  []string           `json:"class_names"`
	Metadata    map[string]string  `json:"metadata,omitempty"`
	Metrics     map[string]float64 `json:"metrics"`
	Lineage     Lineage            `json:"lineage"`
	Description string             `json:"description,omitempty"`
	Approval    Approval           `json:"approval"`
	CreatedBy   string             `json:"created_by,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
}

// Artifact is a content-addressed blob.
type Artifact struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// RegisterModelRequest is the body of a model registration: the artifact is
// uploaded first (content-addressed), then named here.
type RegisterModelRequest struct {
	SHA256      string             `json:"sha256"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Lineage     Lineage            `json:"lineage,omitempty"`
	Description string             `json:"description,omitempty"`
	Approve     bool               `json:"approve,omitempty"`
	Reason      string             `json:"reason,omitempty"`
}

// DecisionRequest approves or rejects a model version.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}

var (
	// Compiled on first use: every program links these, and a device agent
	// that never validates a name need not hold them (issue 15).
	nameRE   = lazyRegexp(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	sha256RE = lazyRegexp(`^[0-9a-f]{64}$`)
	metricRE = lazyRegexp(`^[A-Za-z][A-Za-z0-9_.:-]{0,63}$`)
)

// ValidateName checks a model group, component, device or group name: it ends
// up in MQTT topics, file paths and URLs, so it is kept to a safe alphabet.
func ValidateName(kind, name string) error {
	if !nameRE().MatchString(name) {
		return Errorf(CodeInvalid, "invalid %s name %q: use 1-63 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

// ValidateSHA256 checks a lowercase hex sha256 digest.
func ValidateSHA256(s string) error {
	if !sha256RE().MatchString(s) {
		return Errorf(CodeInvalid, "invalid sha256 %q: want 64 lowercase hex digits", s)
	}
	return nil
}

// ValidateMetrics checks metric names (they become labels and gate keys)
// and values: NaN and ±Inf compare false with every gate rule and cannot be
// sent as JSON, so they are refused as input, not failed on later.
func ValidateMetrics(m map[string]float64) error {
	for k, v := range m {
		if !metricRE().MatchString(k) {
			return Errorf(CodeInvalid, "invalid metric name %q: use a letter then letters, digits, '_', '.', ':' or '-'", k)
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Errorf(CodeInvalid, "metric %s=%v: the value must be a finite number", k, v)
		}
	}
	return nil
}

// ParseApprovalStatus accepts the three statuses, case-sensitively.
func ParseApprovalStatus(s string) (ApprovalStatus, error) {
	switch ApprovalStatus(s) {
	case PendingManualApproval, Approved, Rejected:
		return ApprovalStatus(s), nil
	}
	return "", fmt.Errorf("unknown approval status %q", s)
}

// lazyRegexp compiles expr the first time it is needed.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
