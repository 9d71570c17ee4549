package release

import (
	"fmt"
	"maps"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Grant gives a device one deployment document and, once that document is
// signed, the targets it brings (its recipes and artifacts).
type Grant struct {
	Document string
	Targets  []string
}

// View is the release metadata one device is served: targets, snapshot and
// timestamp re-signed over only the targets granted to it, so a device
// learns nothing about the rest of the fleet. Root is the repository's.
type View struct {
	version int64 // the repository's timestamp version it was made at
	targets map[string]bool
	files   map[string][]byte
}

// Has tells whether the view lists a target path.
func (v *View) Has(path string) bool { return v.targets[path] }

// Metadata returns one of the view's files, or the repository's root
// files, as Repo.Metadata does.
func (v *View) Metadata(r *Repo, name string) ([]byte, error) {
	if b, ok := v.files[name]; ok {
		return b, nil
	}
	if name == "targets.json" || name == "snapshot.json" || name == "timestamp.json" {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return r.Metadata(name)
}

// View returns device's view, made from grants (read from the database).
// A view carries the repository's own version numbers, so a device sees
// them only grow; for that, one version must always mean one content. It
// does: a grant counts only once its document is signed, and grants never
// change after that. grants is read after the version, and the view made
// only if no signature came in between — else a deployment committed and
// signed meanwhile could be missing from a view with its version.
func (r *Repo) View(device string, grants func() ([]Grant, error)) (*View, error) {
	for range 5 {
		r.mu.Lock()
		ver, cached := r.ts.Signed.Version, r.views[device]
		r.mu.Unlock()
		if cached != nil && cached.version == ver {
			return cached, nil
		}
		gs, err := grants()
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.ts.Signed.Version != ver {
			r.mu.Unlock()
			continue
		}
		v, err := r.makeView(gs)
		if err == nil {
			r.views[device] = v
		}
		r.mu.Unlock()
		return v, err
	}
	return nil, fmt.Errorf("release: metadata kept changing while making the view of %s; try again", device)
}

// makeView signs the view of grants at the current versions. r.mu is held.
func (r *Repo) makeView(grants []Grant) (*View, error) {
	all := r.targets.Signed.Targets
	v := &View{version: r.ts.Signed.Version, targets: map[string]bool{}, files: map[string][]byte{}}
	for _, g := range grants {
		if all[g.Document] == nil {
			continue // not signed yet
		}
		v.targets[g.Document] = true
		for _, p := range g.Targets {
			if all[p] != nil {
				v.targets[p] = true
			}
		}
	}
	targets := metadata.Targets(r.targets.Signed.Expires)
	targets.Signed.Version = r.targets.Signed.Version
	for p := range v.targets {
		targets.Signed.Targets[p] = all[p]
	}
	snap := metadata.Snapshot(r.snap.Signed.Expires)
	snap.Signed.Version = r.snap.Signed.Version
	snap.Signed.Meta = maps.Clone(r.snap.Signed.Meta)
	ts := metadata.Timestamp(r.ts.Signed.Expires)
	ts.Signed.Version = r.ts.Signed.Version
	ts.Signed.Meta = maps.Clone(r.ts.Signed.Meta)
	for _, f := range []struct {
		md   signable
		role string
		name string
	}{{targets, metadata.TARGETS, "targets.json"}, {snap, metadata.SNAPSHOT, "snapshot.json"}, {ts, metadata.TIMESTAMP, "timestamp.json"}} {
		if _, err := f.md.Sign(r.signers[f.role]); err != nil {
			return nil, fmt.Errorf("release: sign %s of a device view: %w", f.role, err)
		}
		b, err := f.md.ToBytes(true)
		if err != nil {
			return nil, err
		}
		v.files[f.name] = b
	}
	return v, nil
}
