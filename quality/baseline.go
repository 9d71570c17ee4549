package quality

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/pipeline"
	"github.com/vise-edge/vise/store"
)

// deploymentsScanned bounds the deployments searched for a model's first.
const deploymentsScanned = 1000

// Baseline is a model version's baseline: its figures on the canary
// devices from the creation of its first deployment, a canary stage (part
// of a group), to the next deployment to that group (the rollout). A model
// the registry does not know, one deployed without a canary stage, one
// whose canary is still running or sent too few frames has none, and
// Missing says which.
func (m *Monitor) Baseline(ctx context.Context, sha string) (*vise.QualityBaseline, error) {
	m.mu.Lock()
	b := m.baselines[sha]
	m.mu.Unlock()
	if b != nil {
		return b, nil
	}
	b, final, err := m.baseline(ctx, sha)
	if err != nil {
		return nil, err
	}
	if final {
		m.mu.Lock()
		m.baselines[sha] = b
		m.mu.Unlock()
	}
	return b, nil
}

func (m *Monitor) baseline(ctx context.Context, sha string) (b *vise.QualityBaseline, final bool, err error) {
	b = &vise.QualityBaseline{Model: sha, SHA256: sha}
	mv, err := m.o.Store.ModelVersionBySHA256(ctx, sha)
	if err != nil && vise.ErrorCode(err) != vise.CodeNotFound {
		return nil, false, err
	}
	if mv == nil {
		b.Missing = "the registry does not know this model, so it has no deployment and no canary period"
		return b, false, nil // it may be registered later
	}
	b.Model = mv.Group + "@" + strconv.Itoa(mv.Version)
	canary, next, err := m.firstDeployment(ctx, pipeline.ModelComponent(mv).Name, fmt.Sprintf("%d.0.0", mv.Version))
	if err != nil {
		return nil, false, err
	}
	switch {
	case canary == nil:
		b.Missing = "not deployed yet, so no canary period"
		return b, false, nil
	case canary.Target.Kind != vise.TargetGroup:
		b.Missing = fmt.Sprintf("first deployed to %s %s without a canary stage (deploy to a group with edge-deploy for a baseline)", canary.Target.Kind, canary.Target.Name)
		return b, true, nil
	}
	g, err := m.o.Store.GetGroup(ctx, canary.Target.Name)
	if err != nil && vise.ErrorCode(err) != vise.CodeNotFound {
		return nil, false, err
	}
	b.Deployment, b.From = canary.ID, canary.CreatedAt
	for _, d := range canary.Devices {
		b.Devices = append(b.Devices, d.Device)
	}
	if next == nil {
		if g != nil && len(b.Devices) < len(g.Devices) {
			b.Missing = fmt.Sprintf("the canary stage (deployment %s) is still running: the baseline is taken when the rollout starts", canary.ID)
			return b, false, nil
		}
		b.Missing = fmt.Sprintf("first deployed to the whole of group %s without a canary stage", canary.Target.Name)
		return b, true, nil
	}
	b.To = next.CreatedAt
	return b, true, m.canaryStats(ctx, b)
}

// canaryStats sums the canary devices' results of the model over the
// canary period into b.
func (m *Monitor) canaryStats(ctx context.Context, b *vise.QualityBaseline) error {
	bs, err := m.o.Store.QualityBuckets(ctx, store.QualityFilter{Model: b.SHA256, From: b.From, To: b.To,
		Bucket: b.To.Sub(b.From) + 1, Uncertain: *m.o.Uncertain})
	if err != nil {
		return err
	}
	var sum store.QualityBucket
	for _, x := range bs {
		if slices.Contains(b.Devices, x.Device) {
			add(&sum, x)
		}
	}
	b.QualityStats = stats(sum)
	if sum.Frames < m.o.MinFrames {
		b.Missing = fmt.Sprintf("the canary period sent %d frames, fewer than the %d a baseline needs", sum.Frames, m.o.MinFrames)
	}
	return nil
}

// firstDeployment finds the oldest deployment with the component version,
// in full, and the next deployment to the same target after it.
func (m *Monitor) firstDeployment(ctx context.Context, name, version string) (first, next *vise.Deployment, err error) {
	ds, err := m.o.Store.ListDeployments(ctx, nil, deploymentsScanned) // newest first
	if err != nil {
		return nil, nil, err
	}
	at := -1
	for i, d := range ds {
		if slices.Contains(d.Components, vise.ComponentRef{Name: name, Version: version}) {
			at = i
		}
	}
	if at < 0 {
		return nil, nil, nil
	}
	if first, err = m.o.Store.GetDeployment(ctx, ds[at].ID); err != nil {
		return nil, nil, err
	}
	for i := at - 1; i >= 0; i-- {
		if ds[i].Target == first.Target {
			return first, ds[i], nil
		}
	}
	return first, nil, nil
}
