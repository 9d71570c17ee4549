package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/vise-edge/vise"
)

// CreateComponentVersion stores an immutable recipe. Creating the same
// name@version again with the same content returns the stored one and
// created=false; with different content it is a conflict. Every artifact
// must already be uploaded.
func (s *Store) CreateComponentVersion(ctx context.Context, r *vise.Recipe, by string) (cv *vise.ComponentVersion, created bool, err error) {
	digest, err := r.Digest()
	if err != nil {
		return nil, false, err
	}
	canonical, err := r.Canonical()
	if err != nil {
		return nil, false, err
	}
	err = s.write(ctx, "create component version", func(t *tx) error {
		existing, err := scanComponent(t.queryRow(`SELECT `+componentCols+` FROM components WHERE name = ? AND version = ?`, r.Name, r.Version))
		if err == nil {
			if existing.Digest != digest {
				return vise.Errorf(vise.CodeConflict, "component %s@%s already exists with different content; versions are immutable, so bump the version", r.Name, r.Version)
			}
			cv = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		for _, a := range r.Artifacts {
			if err := t.checkRecipeArtifact(r, a); err != nil {
				return err
			}
		}
		cv = &vise.ComponentVersion{Recipe: *r, Digest: digest, CreatedBy: by, CreatedAt: s.clock()}
		if _, err := t.exec(`INSERT INTO components (name, version, digest, recipe, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			r.Name, r.Version, digest, string(canonical), by, micros(cv.CreatedAt)); err != nil {
			return err
		}
		for _, a := range r.Artifacts {
			if _, err := t.exec(`INSERT INTO component_artifacts (name, version, sha256) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				r.Name, r.Version, a.SHA256); err != nil {
				return err
			}
		}
		created = true
		return t.emit(vise.EventComponentCreated, r.Name+"@"+r.Version, cv)
	})
	if err != nil {
		return nil, false, err
	}
	return cv, created, nil
}

// checkRecipeArtifact refuses an artifact that is not uploaded, or whose
// size is not the uploaded blob's: the device would only fail on it later.
func (t *tx) checkRecipeArtifact(r *vise.Recipe, a vise.RecipeArtifact) error {
	var size int64
	err := t.queryRow(`SELECT size FROM artifacts WHERE sha256 = ?`, a.SHA256).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return vise.Errorf(vise.CodeInvalid, "component %s@%s: artifact %s (sha256 %s) is not uploaded; upload it first", r.Name, r.Version, a.Name, a.SHA256)
	}
	if err != nil {
		return err
	}
	if size != a.Size {
		return vise.Errorf(vise.CodeInvalid, "component %s@%s: artifact %s (sha256 %s) has size %d in the recipe, but the uploaded blob is %d bytes; fix the recipe's size",
			r.Name, r.Version, a.Name, a.SHA256, a.Size, size)
	}
	return nil
}

const componentCols = `recipe, digest, created_by, created_at`

func scanComponent(row scanner) (*vise.ComponentVersion, error) {
	var cv vise.ComponentVersion
	var recipe string
	var created int64
	if err := row.Scan(&recipe, &cv.Digest, &cv.CreatedBy, &created); err != nil {
		return nil, err
	}
	cv.CreatedAt = fromMicros(created)
	if err := scanJSON(recipe, &cv.Recipe); err != nil {
		return nil, err
	}
	return &cv, nil
}

// GetComponentVersion returns one version or a not_found error.
func (s *Store) GetComponentVersion(ctx context.Context, name, version string) (*vise.ComponentVersion, error) {
	cv, err := scanComponent(s.queryRow(ctx, `SELECT `+componentCols+` FROM components WHERE name = ? AND version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.ListComponentVersions(ctx, name); err != nil {
			return nil, err
		}
		return nil, vise.Errorf(vise.CodeNotFound, "component %s has no version %s; see 'vise component show %s'", name, version, name)
	}
	if err != nil {
		return nil, s.classify("get component version", err)
	}
	return cv, nil
}

// ListComponentVersions returns a component's versions, highest semver
// first, or not_found if it has none.
func (s *Store) ListComponentVersions(ctx context.Context, name string) ([]*vise.ComponentVersion, error) {
	out, err := s.componentVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, vise.Errorf(vise.CodeNotFound, "component %s not found; 'vise component list' shows the stored components", name)
	}
	return out, nil
}

func (s *Store) componentVersions(ctx context.Context, name string) ([]*vise.ComponentVersion, error) {
	out, err := list(ctx, s, "list component versions", scanComponent, `SELECT `+componentCols+` FROM components WHERE name = ?`, name)
	sortBySemverDesc(out)
	return out, err
}

// Recipes is a vise.RecipeSource over the store.
func (s *Store) Recipes(ctx context.Context) vise.RecipeSource {
	return func(name string) ([]*vise.Recipe, error) {
		cvs, err := s.componentVersions(ctx, name)
		if err != nil {
			return nil, err
		}
		out := make([]*vise.Recipe, len(cvs))
		for i, cv := range cvs {
			out[i] = &cv.Recipe
		}
		return out, nil
	}
}

// ListComponents returns one summary per component name.
func (s *Store) ListComponents(ctx context.Context) ([]vise.ComponentSummary, error) {
	rows, err := s.query(ctx, `SELECT name, version, created_at FROM components ORDER BY name`)
	if err != nil {
		return nil, s.classify("list components", err)
	}
	defer rows.Close()
	out := []vise.ComponentSummary{}
	var latest *semver.Version
	for rows.Next() {
		var name, version string
		var created int64
		if err := rows.Scan(&name, &version, &created); err != nil {
			return nil, s.classify("list components", err)
		}
		v, _ := semver.NewVersion(version)
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, vise.ComponentSummary{Name: name})
			latest = nil
		}
		sum := &out[len(out)-1]
		sum.VersionCount++
		if latest == nil || (v != nil && v.GreaterThan(latest)) {
			latest, sum.LatestVersion = v, version
		}
		if t := fromMicros(created); t.After(sum.UpdatedAt) {
			sum.UpdatedAt = t
		}
	}
	return out, s.classifyRows("list components", rows.Err())
}

// AllComponentVersions returns every stored version, for re-publishing
// signed release metadata at start-up.
func (s *Store) AllComponentVersions(ctx context.Context) ([]*vise.ComponentVersion, error) {
	return list(ctx, s, "list component versions", scanComponent, `SELECT `+componentCols+` FROM components ORDER BY name, version`)
}

func sortBySemverDesc(cvs []*vise.ComponentVersion) {
	slices.SortFunc(cvs, func(a, b *vise.ComponentVersion) int {
		va, erra := semver.NewVersion(a.Recipe.Version)
		vb, errb := semver.NewVersion(b.Recipe.Version)
		if erra != nil || errb != nil {
			return strings.Compare(b.Recipe.Version, a.Recipe.Version)
		}
		return vb.Compare(va)
	})
}
