package registry

import (
	"context"
	"fmt"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/onnx"
)

// RegisterModel makes an uploaded ONNX artifact the next version of a model
// group. The file is read (streamed) to check it is ONNX and to record its
// input and output shapes and class names.
func (r *Registry) RegisterModel(ctx context.Context, group string, req vise.RegisterModelRequest, by string) (*vise.ModelVersion, error) {
	if err := vise.ValidateName("model", group); err != nil {
		return nil, err
	}
	if err := vise.ValidateSHA256(req.SHA256); err != nil {
		return nil, err
	}
	if err := vise.ValidateMetrics(req.Metrics); err != nil {
		return nil, err
	}
	for _, ref := range []string{req.Lineage.Dataset, req.Lineage.Benchmark} {
		if _, v, err := datasets.ParseRef(ref); ref != "" && (err != nil || v == 0) {
			return nil, vise.Errorf(vise.CodeInvalid, "lineage dataset %q: name a dataset version as NAME@VERSION, e.g. metal-tags@2", ref)
		}
	}
	a, err := r.store.GetArtifact(ctx, req.SHA256)
	if err != nil {
		return nil, err
	}
	info, err := r.readONNX(ctx, a)
	if err != nil {
		r.metrics.modelsRejected.Inc()
		return nil, err
	}
	mv := vise.ModelVersion{
		Group: group, Artifact: a, Format: "onnx", Producer: producer(info),
		Inputs: tensorSpecs(info.Inputs), Outputs: tensorSpecs(info.Outputs),
		ClassNames: info.ClassNames, Metadata: info.Metadata,
		Metrics: req.Metrics, Lineage: req.Lineage, Description: req.Description,
		Approval: vise.Approval{Status: vise.PendingManualApproval}, CreatedBy: by,
	}
	if mv.ClassNames == nil {
		mv.ClassNames = []string{}
	}
	if mv.Metrics == nil {
		mv.Metrics = map[string]float64{}
	}
	lost, err := r.derived(ctx, &mv)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC()
	switch failed := check(r.gate, mv.Metrics); {
	case lost != "":
		mv.Approval = vise.Approval{Status: vise.Rejected, By: "accuracy-gate", At: &now, Reason: lost}
	case failed != "":
		mv.Approval = vise.Approval{Status: vise.Rejected, By: "quality-gate", At: &now, Reason: failed}
	case req.Approve:
		mv.Approval = vise.Approval{Status: vise.Approved, By: by, At: &now, Reason: req.Reason}
	case r.auto && len(r.gate) > 0:
		mv.Approval = vise.Approval{Status: vise.Approved, By: "quality-gate", At: &now, Reason: "passed " + gateText(r.gate)}
	}
	out, err := r.store.CreateModelVersion(ctx, mv)
	if err != nil {
		return nil, err
	}
	r.metrics.modelsRegistered.Inc()
	r.log.Info("model registered", "model", group, "version", out.Version, "sha256", a.SHA256, "status", out.Approval.Status, "by", by)
	return out, nil
}

func (r *Registry) readONNX(ctx context.Context, a vise.Artifact) (*onnx.Info, error) {
	rc, err := r.blobs.Open(ctx, a.SHA256, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	info, err := onnx.Read(rc)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "artifact %s is not a usable ONNX model: %w; export the model to ONNX (e.g. yolo export format=onnx) and register that file", a.SHA256[:12], err)
	}
	if len(info.Inputs) == 0 || len(info.Outputs) == 0 {
		return nil, vise.Errorf(vise.CodeInvalid, "ONNX model %s has %d inputs and %d outputs; a detector needs at least one of each", a.SHA256[:12], len(info.Inputs), len(info.Outputs))
	}
	return info, nil
}

func producer(info *onnx.Info) string {
	if info.ProducerVersion == "" {
		return info.ProducerName
	}
	return fmt.Sprintf("%s %s", info.ProducerName, info.ProducerVersion)
}

func tensorSpecs(ts []onnx.Tensor) []vise.TensorSpec {
	out := make([]vise.TensorSpec, len(ts))
	for i, t := range ts {
		spec := vise.TensorSpec{Name: t.Name, ElemType: t.ElemType, Shape: make([]int64, len(t.Shape))}
		named := false
		names := make([]string, len(t.Shape))
		for j, d := range t.Shape {
			spec.Shape[j] = d.Value
			if d.Param != "" || d.Value <= 0 {
				spec.Shape[j], names[j], named = -1, d.Param, named || d.Param != ""
			}
		}
		if named {
			spec.DimNames = names
		}
		out[i] = spec
	}
	return out
}

// Decide approves or rejects a model version.
func (r *Registry) Decide(ctx context.Context, group string, version int, status vise.ApprovalStatus, by, reason string) (*vise.ModelVersion, error) {
	mv, err := r.store.DecideModelVersion(ctx, group, version, status, by, reason)
	if err != nil {
		return nil, err
	}
	r.log.Info("model decision", "model", group, "version", version, "status", status, "by", by, "reason", reason)
	return mv, nil
}

// The read side is the store's; these keep callers on one type.

func (r *Registry) ModelGroups(ctx context.Context) ([]*vise.ModelGroup, error) {
	return r.store.ListModelGroups(ctx)
}

func (r *Registry) ModelGroup(ctx context.Context, name string) (*vise.ModelGroup, error) {
	return r.store.GetModelGroup(ctx, name)
}

func (r *Registry) ModelVersions(ctx context.Context, group string) ([]*vise.ModelVersion, error) {
	return r.store.ListModelVersions(ctx, group)
}

func (r *Registry) ModelVersion(ctx context.Context, group string, version int) (*vise.ModelVersion, error) {
	return r.store.GetModelVersion(ctx, group, version)
}
