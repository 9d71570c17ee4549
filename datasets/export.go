package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vise-edge/vise"
)

// Fetch writes a blob's content to w.
type Fetch func(ctx context.Context, sha string, w io.Writer) error

// WriteYOLO writes a dataset version into dir (absent or empty) in YOLO
// layout: images/, labels/, data.yaml, train.txt and val.txt (the
// version's split), and manifest.json (its manifest, provenance included).
// Every file is checked against its sha256 as it is written. The CLI's
// export and the server's training steps both write through it, so what a
// person exports is what the server trains on.
func WriteYOLO(ctx context.Context, dv *vise.DatasetVersion, dir string, fetch Fetch) (*vise.DatasetManifest, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, vise.Errorf(vise.CodeConflict, "%s is not empty: export into a new folder", dir)
	}
	for _, sub := range []string{"images", "labels"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, vise.Errorf(vise.CodeInvalid, "cannot write the export: %w", err)
		}
	}
	raw, err := fetchFile(ctx, fetch, dv.Digest, filepath.Join(dir, "manifest.json"), true)
	if err != nil {
		return nil, err
	}
	var m vise.DatasetManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", dv.Ref(), err)
	}
	lists := map[string]*strings.Builder{vise.SplitTrain: {}, vise.SplitVal: {}}
	for _, it := range m.Items {
		if _, err := fetchFile(ctx, fetch, it.SHA256, filepath.Join(dir, "images", it.Name), false); err != nil {
			return nil, err
		}
		var sb strings.Builder
		for _, b := range it.Boxes {
			fmt.Fprintf(&sb, "%d %.6f %.6f %.6f %.6f\n", b.Class, b.CX, b.CY, b.W, b.H)
		}
		stem := strings.TrimSuffix(it.Name, filepath.Ext(it.Name))
		if err := os.WriteFile(filepath.Join(dir, "labels", stem+".txt"), []byte(sb.String()), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintln(lists[it.Split], "images/"+it.Name)
	}
	yaml := "# " + dv.Ref() + " (digest " + dv.Digest + "), exported by vise\npath: .\ntrain: train.txt\nval: val.txt\nnames:\n"
	for i, c := range m.Classes {
		yaml += fmt.Sprintf("  %d: %s\n", i, strconv.Quote(c))
	}
	for name, content := range map[string]string{"data.yaml": yaml, "train.txt": lists[vise.SplitTrain].String(), "val.txt": lists[vise.SplitVal].String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// Export writes a version out of the blob store in YOLO layout (see
// WriteYOLO).
func (s *Service) Export(ctx context.Context, dv *vise.DatasetVersion, dir string) (*vise.DatasetManifest, error) {
	return WriteYOLO(ctx, dv, dir, func(ctx context.Context, sha string, w io.Writer) error {
		rc, err := s.blobs.Open(ctx, sha, 0, -1)
		if err != nil {
			return fmt.Errorf("dataset %s: blob %s: %w", dv.Ref(), sha, err)
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	})
}

// fetchFile writes a blob into path, checking its sha256; with keep, it
// returns the content too (the manifest).
func fetchFile(ctx context.Context, fetch Fetch, sha, path string, keep bool) ([]byte, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	var kept bytes.Buffer
	w := io.MultiWriter(f, h)
	if keep {
		w = io.MultiWriter(f, h, &kept)
	}
	if err := fetch(ctx, sha, w); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return nil, vise.Errorf(vise.CodeInternal, "%s: content has sha256 %s, not %s", path, got, sha)
	}
	return kept.Bytes(), f.Close()
}
