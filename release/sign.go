package release

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/atomicfile"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// signRoot signs root with the current root key, plus extra (the old root
// key during a rotation, so devices can walk the chain), and saves it as
// N.root.json and root.json.
func (r *Repo) signRoot(extra signature.Signer) error {
	r.root.ClearSignatures()
	for _, s := range []signature.Signer{extra, r.signers[metadata.ROOT]} {
		if s == nil {
			continue
		}
		if _, err := r.root.Sign(s); err != nil {
			return fmt.Errorf("release: sign root: %w", err)
		}
	}
	b, err := r.root.ToBytes(true)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%d.root.json", r.root.Signed.Version)
	if err := r.write(name, b); err != nil {
		return err
	}
	return r.write("root.json", b)
}

// signAndSave bumps, signs and saves the chosen roles, then snapshot and
// timestamp as needed so the chain stays consistent. Files are written
// targets, snapshot, timestamp: a crash leaves a timestamp that points at a
// snapshot that exists.
func (r *Repo) signAndSave(targets, snapshot, timestamp bool) error {
	now := r.opts.Now().UTC()
	if targets {
		if r.files["targets.json"] != nil {
			r.targets.Signed.Version++
		}
		r.targets.Signed.Expires = now.Add(r.opts.TargetsExpiry)
		if err := signWrite(r, r.targets, metadata.TARGETS, "targets.json"); err != nil {
			return err
		}
		r.snap.Signed.Meta["targets.json"] = metadata.MetaFile(r.targets.Signed.Version)
		snapshot = true
	}
	if snapshot {
		if r.files["snapshot.json"] != nil {
			r.snap.Signed.Version++
		}
		r.snap.Signed.Expires = now.Add(r.opts.SnapshotExpiry)
		if err := signWrite(r, r.snap, metadata.SNAPSHOT, "snapshot.json"); err != nil {
			return err
		}
		r.ts.Signed.Meta["snapshot.json"] = metadata.MetaFile(r.snap.Signed.Version)
		timestamp = true
	}
	if timestamp {
		if r.files["timestamp.json"] != nil {
			r.ts.Signed.Version++
		}
		r.ts.Signed.Expires = now.Add(r.opts.TimestampExpiry)
		return signWrite(r, r.ts, metadata.TIMESTAMP, "timestamp.json")
	}
	return nil
}

type signable interface {
	ClearSignatures()
	Sign(signature.Signer) (*metadata.Signature, error)
	ToBytes(bool) ([]byte, error)
}

func signWrite(r *Repo, md signable, role, name string) error {
	md.ClearSignatures()
	if _, err := md.Sign(r.signers[role]); err != nil {
		return fmt.Errorf("release: sign %s: %w", role, err)
	}
	b, err := md.ToBytes(true)
	if err != nil {
		return err
	}
	return r.write(name, b)
}

// write stores a metadata file atomically (temp, fsync, rename) and keeps
// its bytes to serve.
func (r *Repo) write(name string, b []byte) error {
	if err := atomicfile.Write(r.metaPath(name), b, 0o644); err != nil {
		return fmt.Errorf("release: write %s: %w", name, err)
	}
	r.files[name] = b
	return nil
}

func targetFile(t Target) (*metadata.TargetFiles, error) {
	sum, err := hex.DecodeString(t.SHA256)
	if err != nil || len(sum) != 32 {
		return nil, fmt.Errorf("release: target %s: sha256 %q is not 64 hex digits", t.Path, t.SHA256)
	}
	tf := &metadata.TargetFiles{Length: t.Length, Hashes: metadata.Hashes{"sha256": sum}, Path: t.Path}
	if len(t.Custom) > 0 {
		c := json.RawMessage(slices.Clone(t.Custom))
		tf.Custom = &c
	}
	return tf, nil
}

// Publish makes targets the complete signed set. Nothing is re-signed if
// the set is unchanged.
func (r *Repo) Publish(targets []Target) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[string]*metadata.TargetFiles{}
	for _, t := range targets {
		tf, err := targetFile(t)
		if err != nil {
			return err
		}
		next[t.Path] = tf
	}
	if sameTargets(r.targets.Signed.Targets, next) {
		return nil
	}
	r.targets.Signed.Targets = next
	return r.signAndSave(true, false, false)
}

// AddTargets signs more targets. A path already signed with the same length
// and hash is skipped; with other content it is ErrTargetConflict.
func (r *Repo) AddTargets(targets ...Target) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, t := range targets {
		tf, err := targetFile(t)
		if err != nil {
			return err
		}
		if old, ok := r.targets.Signed.Targets[t.Path]; ok {
			if !old.Equal(*tf) {
				return fmt.Errorf("release: %s: %w", t.Path, ErrTargetConflict)
			}
			continue
		}
		r.targets.Signed.Targets[t.Path] = tf
		changed = true
	}
	if !changed {
		return nil
	}
	return r.signAndSave(true, false, false)
}

func sameTargets(a, b map[string]*metadata.TargetFiles) bool {
	if len(a) != len(b) {
		return false
	}
	for p, tf := range a {
		o, ok := b[p]
		if !ok || !tf.Equal(*o) {
			return false
		}
	}
	return true
}

// Refresh re-signs metadata that has used up half of its lifetime, so
// devices never see it expire while the server runs.
func (r *Repo) Refresh() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now().UTC()
	stale := func(expires time.Time, life time.Duration) bool { return expires.Sub(now) < life/2 }
	if stale(r.root.Signed.Expires, r.opts.RootExpiry) {
		r.root.Signed.Version++
		r.root.Signed.Expires = now.Add(r.opts.RootExpiry)
		if err := r.signRoot(nil); err != nil {
			return err
		}
	}
	return r.signAndSave(stale(r.targets.Signed.Expires, r.opts.TargetsExpiry),
		stale(r.snap.Signed.Expires, r.opts.SnapshotExpiry),
		stale(r.ts.Signed.Expires, r.opts.TimestampExpiry))
}

// RotateKey replaces a role's key: root gets a new version listing the new
// key, signed by the old and the new root keys (so a device holding the old
// root can verify the new one), and the role's metadata is re-signed.
func (r *Repo) RotateKey(role string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Contains(roles, role) {
		return fmt.Errorf("release: unknown role %q", role)
	}
	var oldRoot signature.Signer // a new root key needs the old one's signature too
	if role == metadata.ROOT {
		oldRoot = r.signers[metadata.ROOT]
	}
	for _, id := range slices.Clone(r.root.Signed.Roles[role].KeyIDs) {
		if err := r.root.Signed.RevokeKey(id, role); err != nil {
			return fmt.Errorf("release: rotate %s: %w", role, err)
		}
	}
	keyPath := filepath.Join(r.opts.Dir, "keys", role+".pem")
	old := keyPath + fmt.Sprintf(".retired-v%d", r.root.Signed.Version)
	if err := os.Rename(keyPath, old); err != nil {
		return fmt.Errorf("release: rotate %s: %w", role, err)
	}
	if err := r.newKey(role); err != nil {
		return err
	}
	r.root.Signed.Version++
	r.root.Signed.Expires = r.opts.Now().UTC().Add(r.opts.RootExpiry)
	if err := r.signRoot(oldRoot); err != nil {
		return err
	}
	r.log.Info("rotated release signing key", "role", role, "root_version", r.root.Signed.Version)
	return r.signAndSave(role == metadata.TARGETS, role == metadata.SNAPSHOT, true)
}
