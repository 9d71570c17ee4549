package release

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// load reads keys and metadata written by an earlier start.
func (r *Repo) load() error {
	for _, role := range roles {
		s, err := loadKey(filepath.Join(r.opts.Dir, "keys", role+".pem"))
		if err != nil {
			return fmt.Errorf("release: %w", err)
		}
		r.signers[role] = s
	}
	var err error
	if r.root, err = readMeta(r, metadata.Root(), "root.json"); err != nil {
		return err
	}
	if r.targets, err = readMeta(r, metadata.Targets(), "targets.json"); err != nil {
		return err
	}
	if r.snap, err = readMeta(r, metadata.Snapshot(), "snapshot.json"); err != nil {
		return err
	}
	if r.ts, err = readMeta(r, metadata.Timestamp(), "timestamp.json"); err != nil {
		return err
	}
	for v := int64(1); v <= r.root.Signed.Version; v++ {
		name := fmt.Sprintf("%d.root.json", v)
		b, err := os.ReadFile(r.metaPath(name))
		if err != nil {
			return fmt.Errorf("release: %s is missing (%w); restore the release directory from backup", r.metaPath(name), err)
		}
		r.files[name] = b
	}
	return nil
}

func readMeta[T metadata.Roles](r *Repo, into *metadata.Metadata[T], name string) (*metadata.Metadata[T], error) {
	path := r.metaPath(name)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("release: %w; restore the release directory from backup", err)
	}
	md, err := into.FromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("release: %s is corrupt: %w; restore it from backup", path, err)
	}
	r.files[name] = b
	return md, nil
}

var rootName = regexp.MustCompile(`^[1-9][0-9]*\.root\.json$`)

// Metadata returns a metadata file as served: "root.json" (the newest),
// "N.root.json", "targets.json", "snapshot.json" or "timestamp.json".
func (r *Repo) Metadata(name string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case name == "root.json", name == "targets.json", name == "snapshot.json", name == "timestamp.json", rootName.MatchString(name):
		if b, ok := r.files[name]; ok {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
}

// RootJSON is the trusted root a device is given when it enrolls.
func (r *Repo) RootJSON() []byte {
	b, _ := r.Metadata("root.json")
	return b
}

// Handler serves the metadata files by name at its root.
func (r *Repo) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := r.Metadata(strings.TrimPrefix(req.URL.Path, "/"))
		if err != nil {
			http.Error(w, `{"error":{"code":"not_found","message":"no such release metadata file"}}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
}
