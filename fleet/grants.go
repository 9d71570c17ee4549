package fleet

import (
	"context"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/release"
)

// Grants lists what a device may fetch: the documents of the deployments
// it is a target of, and the recipes and artifacts of their components.
func (f *Fleet) Grants(ctx context.Context, device string) ([]release.Grant, error) {
	ds, err := f.store.DeviceDeployments(ctx, device)
	if err != nil {
		return nil, err
	}
	brings := map[vise.ComponentRef][]string{} // each component version read once
	var out []release.Grant
	for _, d := range ds {
		g := release.Grant{Document: DeploymentTarget(d.ID)}
		for _, c := range d.Components {
			paths, ok := brings[c]
			if !ok {
				cv, err := f.store.GetComponentVersion(ctx, c.Name, c.Version)
				if err != nil {
					return nil, err
				}
				paths = []string{registry.RecipeTarget(c.Name, c.Version)}
				for _, a := range cv.Recipe.Artifacts {
					paths = append(paths, registry.ArtifactTarget(a.SHA256))
				}
				brings[c] = paths
			}
			g.Targets = append(g.Targets, paths...)
		}
		out = append(out, g)
	}
	return out, nil
}
