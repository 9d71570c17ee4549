package registry

import (
	"context"
	"fmt"

	"github.com/vise-edge/vise"
)

// derived checks a version made from another (an INT8 one from its float
// parent) and returns the rejection reason when it lost too much accuracy:
// its mAP50 more than vise.MaxDerivedMAP50Drop below the parent's, both
// measured on the same images by whoever made it (metrics map50 and
// parent_map50). A quantized file is marked as the INT8 variant whatever
// the request says.
func (r *Registry) derived(ctx context.Context, mv *vise.ModelVersion) (string, error) {
	if _, ok := mv.Metadata[vise.QuantizationMetadataKey]; ok {
		mv.Lineage.Variant = vise.VariantInt8
	}
	if mv.Lineage.Variant != "" && mv.Lineage.Variant != vise.VariantInt8 {
		return "", vise.Errorf(vise.CodeInvalid, "lineage variant %q: the only variant is %q (leave it empty for a float model)", mv.Lineage.Variant, vise.VariantInt8)
	}
	p := mv.Lineage.ParentVersion
	if p == 0 {
		return "", nil
	}
	parent, err := r.store.GetModelVersion(ctx, mv.Group, p)
	if vise.ErrorCode(err) == vise.CodeNotFound {
		return "", vise.Errorf(vise.CodeInvalid, "parent version %d of model %s does not exist", p, mv.Group)
	}
	if err != nil {
		return "", err
	}
	if parent.Lineage.Variant == vise.VariantInt8 {
		return "", vise.Errorf(vise.CodeInvalid, "parent version %d of model %s is itself INT8: derive from its float parent, version %d", p, mv.Group, parent.Lineage.ParentVersion)
	}
	got, ok1 := mv.Metrics["map50"]
	base, ok2 := mv.Metrics["parent_map50"]
	if !ok1 || !ok2 {
		return "", vise.Errorf(vise.CodeInvalid, "a version derived from version %d needs the metrics map50 and parent_map50, measured on the same images, for the accuracy gate", p)
	}
	if got < base-vise.MaxDerivedMAP50Drop {
		return fmt.Sprintf("accuracy gate: mAP50 %.4f is %.4f below its parent version %d's %.4f on the same images; at most %.2f may be lost",
			got, base-got, p, base, vise.MaxDerivedMAP50Drop), nil
	}
	return "", nil
}
