package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/release"
)

// CreateComponent stores an immutable component version and signs its
// recipe. Every artifact must be uploaded already, and the new version must
// not close a dependency cycle with stored components.
func (r *Registry) CreateComponent(ctx context.Context, rc *vise.Recipe, by string) (*vise.ComponentVersion, bool, error) {
	if err := rc.Validate(); err != nil {
		return nil, false, err
	}
	for _, a := range rc.Artifacts {
		if a.File != "" {
			return nil, false, vise.Errorf(vise.CodeInvalid, "artifact %s names a local file; upload it and give its sha256 and size (the CLI does this)", a.Name)
		}
	}
	src := r.store.Recipes(ctx)
	withNew := func(name string) ([]*vise.Recipe, error) {
		all, err := src(name)
		if name == rc.Name && err == nil {
			all = append([]*vise.Recipe{rc}, all...)
		}
		return all, err
	}
	if _, err := vise.Resolve([]vise.ComponentRef{{Name: rc.Name, Version: rc.Version}}, withNew, true); err != nil {
		if vise.ErrorCode(err) == vise.CodeInvalid {
			return nil, false, err // a cycle; a missing dependency is fine until deploy time
		}
	}
	cv, created, err := r.store.CreateComponentVersion(ctx, rc, by)
	if err != nil {
		return nil, false, err
	}
	if err := r.signRecipe(cv); err != nil {
		return nil, false, err
	}
	if created {
		r.log.Info("component created", "component", rc.Name, "version", rc.Version, "digest", cv.Digest, "by", by)
	}
	return cv, created, nil
}

func (r *Registry) signRecipe(cv *vise.ComponentVersion) error {
	b, err := cv.Recipe.Canonical()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	t := release.Target{Path: RecipeTarget(cv.Recipe.Name, cv.Recipe.Version), Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	if err := r.signer.AddTargets(t); err != nil {
		return fmt.Errorf("sign recipe %s@%s: %w", cv.Recipe.Name, cv.Recipe.Version, err)
	}
	return nil
}

// ReleaseTargets lists every artifact and recipe the release metadata must
// hold, so the server can re-sign the full set at start-up and heal a crash
// between a commit and its signature.
func (r *Registry) ReleaseTargets(ctx context.Context) ([]release.Target, error) {
	cvs, err := r.store.AllComponentVersions(ctx)
	if err != nil {
		return nil, err
	}
	var out []release.Target
	for _, cv := range cvs {
		b, err := cv.Recipe.Canonical()
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, release.Target{Path: RecipeTarget(cv.Recipe.Name, cv.Recipe.Version), Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	}
	arts, err := r.store.ListArtifacts(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range arts {
		out = append(out, release.Target{Path: ArtifactTarget(a.SHA256), Length: a.Size, SHA256: a.SHA256})
	}
	return out, nil
}

func (r *Registry) Components(ctx context.Context) ([]vise.ComponentSummary, error) {
	return r.store.ListComponents(ctx)
}

func (r *Registry) ComponentVersions(ctx context.Context, name string) ([]*vise.ComponentVersion, error) {
	return r.store.ListComponentVersions(ctx, name)
}

func (r *Registry) ComponentVersion(ctx context.Context, name, version string) (*vise.ComponentVersion, error) {
	return r.store.GetComponentVersion(ctx, name, version)
}
