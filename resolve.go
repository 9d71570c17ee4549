package vise

import (
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// RecipeSource lists the stored recipes of one component, any order. It
// returns an empty list, not an error, for an unknown name.
type RecipeSource func(name string) ([]*Recipe, error)

// Resolve picks one version of each requested component and of every hard
// dependency, reachable from them, and orders them so dependencies come
// first. A requested version is exact, a semver range, or "" for the newest.
// The choice is greedy (newest satisfying version, first come first served),
// which is enough for the handful of components a device runs; a clash is
// reported with both constraints so the user can pin a version.
//
// With allowMissing, dependencies that have no stored versions at all are
// left out instead of failing; component creation uses it to check cycles
// before every dependency exists.
func Resolve(requested []ComponentRef, src RecipeSource, allowMissing bool) ([]*Recipe, error) {
	r := resolver{src: src, chosen: map[string]*Recipe{}, why: map[string]string{}, allowMissing: allowMissing}
	for _, ref := range requested {
		if err := r.choose(ref.Name, ref.Version, "requested"); err != nil {
			return nil, err
		}
	}
	return r.order()
}

type resolver struct {
	src          RecipeSource
	chosen       map[string]*Recipe
	why          map[string]string // name -> who asked for the chosen version
	allowMissing bool
}

func (r *resolver) choose(name, want, by string) error {
	c, err := constraint(want)
	if err != nil {
		return Errorf(CodeInvalid, "%s: component %s: invalid version or range %q: %w", by, name, want, err)
	}
	if got, ok := r.chosen[name]; ok {
		if c.Check(semver.MustParse(got.Version)) {
			return nil
		}
		return Errorf(CodeConflict, "version clash: %s needs %s %s but %s@%s was chosen for %s; pin compatible versions", by, name, want, name, got.Version, r.why[name])
	}
	all, err := r.src(name)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		if r.allowMissing && by != "requested" {
			return nil
		}
		return Errorf(CodeNotFound, "component %s not found (needed by %s); create it with 'vise component create'", name, by)
	}
	best := newest(all, c)
	if best == nil {
		return Errorf(CodeNotFound, "no version of %s satisfies %q (needed by %s); available: %s", name, want, by, versionList(all))
	}
	r.chosen[name], r.why[name] = best, by
	for _, dep := range best.DependencyNames() {
		d := best.Dependencies[dep]
		if !d.Hard() {
			continue
		}
		if err := r.choose(dep, d.Version, best.Name+"@"+best.Version); err != nil {
			return err
		}
	}
	return nil
}

func constraint(want string) (*semver.Constraints, error) {
	if want == "" || want == "latest" {
		want = "*"
	} else if v, err := semver.StrictNewVersion(want); err == nil {
		want = "=" + v.String()
	}
	return semver.NewConstraint(want)
}

func newest(all []*Recipe, c *semver.Constraints) *Recipe {
	var best *Recipe
	var bestV *semver.Version
	for _, rc := range all {
		v, err := semver.NewVersion(rc.Version)
		if err != nil || !c.Check(v) {
			continue
		}
		if bestV == nil || v.GreaterThan(bestV) {
			best, bestV = rc, v
		}
	}
	return best
}

func versionList(all []*Recipe) string {
	vs := make([]string, len(all))
	for i, rc := range all {
		vs[i] = rc.Version
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}

// order sorts the chosen recipes so every dependency (hard, and soft when it
// is part of the set) comes before its dependents, and reports a cycle as
// the path that closes it.
func (r *resolver) order() ([]*Recipe, error) {
	names := make([]string, 0, len(r.chosen))
	for n := range r.chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var out []*Recipe
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case done:
			return nil
		case visiting:
			return Errorf(CodeInvalid, "dependency cycle: %s", strings.Join(append(path, name), " -> "))
		}
		state[name] = visiting
		rc := r.chosen[name]
		for _, dep := range rc.DependencyNames() {
			if _, ok := r.chosen[dep]; ok {
				if err := visit(dep, append(path, name)); err != nil {
					return err
				}
			}
		}
		state[name] = done
		out = append(out, rc)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// String makes error messages that mention a recipe readable.
func (r *Recipe) String() string { return fmt.Sprintf("%s@%s", r.Name, r.Version) }
