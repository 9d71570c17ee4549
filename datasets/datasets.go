// Package datasets makes immutable, content-addressed dataset versions:
// from a YOLO folder imported through the API, or from a base version plus
// the images people labelled in the labelling queue. A version's manifest
// (classes, and per image its sha256, boxes, split and provenance) is a
// blob whose sha256 is the version's digest.
package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	_ "image/jpeg" // dataset images
	_ "image/png"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/store"
)

// Service is safe for concurrent use.
type Service struct {
	store *store.Store
	blobs *blobs.Store
	log   *slog.Logger
}

// New makes a Service; log may be nil.
func New(st *store.Store, b *blobs.Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, blobs: b, log: log}
}

// List returns the versions of every dataset, or of one.
func (s *Service) List(ctx context.Context, name string) ([]*vise.DatasetVersion, error) {
	return s.store.ListDatasetVersions(ctx, name)
}

// Get returns NAME@VERSION; version 0 is the newest.
func (s *Service) Get(ctx context.Context, name string, version int) (*vise.DatasetVersion, error) {
	return s.store.GetDatasetVersion(ctx, name, version)
}

// ParseRef reads NAME@VERSION (or NAME, the newest: version 0).
func ParseRef(ref string) (name string, version int, err error) {
	name, v, ok := strings.Cut(ref, "@")
	if ok {
		if version, err = strconv.Atoi(v); err != nil || version < 1 {
			return "", 0, vise.Errorf(vise.CodeInvalid, "dataset version %q: write NAME@VERSION, e.g. metal-tags@1", ref)
		}
	}
	return name, version, vise.ValidateName("dataset", name)
}

// Manifest reads a version's manifest from the blob store.
func (s *Service) Manifest(ctx context.Context, dv *vise.DatasetVersion) (*vise.DatasetManifest, error) {
	rc, err := s.blobs.Open(ctx, dv.Digest, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("dataset %s manifest: %w", dv.Ref(), err)
	}
	defer rc.Close()
	var m vise.DatasetManifest
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return nil, fmt.Errorf("dataset %s manifest: %w", dv.Ref(), err)
	}
	return &m, nil
}

// finish stores the manifest and records the version; an identical
// manifest gives the version that has it already.
func (s *Service) finish(ctx context.Context, dv vise.DatasetVersion, m *vise.DatasetManifest) (*vise.DatasetVersion, bool, error) {
	sort.Slice(m.Items, func(i, j int) bool { return m.Items[i].Name < m.Items[j].Name })
	m.Schema = 1
	b, err := json.Marshal(m)
	if err != nil {
		return nil, false, err
	}
	sum := sha256.Sum256(b)
	dv.Digest, dv.Classes = hex.EncodeToString(sum[:]), m.Classes
	art, err := s.blobs.Put(ctx, bytes.NewReader(b), int64(len(b)), dv.Digest)
	if err != nil {
		return nil, false, err
	}
	arts := []vise.Artifact{art}
	seen := map[string]bool{}
	for _, it := range m.Items {
		dv.Images++
		dv.Boxes += len(it.Boxes)
		if it.Split == vise.SplitVal {
			dv.Val++
		} else {
			dv.Train++
		}
		size, err := s.size(ctx, it.SHA256)
		if err != nil {
			return nil, false, err
		}
		dv.Bytes += size
		if !seen[it.SHA256] {
			seen[it.SHA256] = true
			arts = append(arts, vise.Artifact{SHA256: it.SHA256, Size: size})
		}
	}
	out, created, err := s.store.CreateDatasetVersion(ctx, dv, arts)
	if err == nil && created {
		s.log.Info("dataset version created", "dataset", out.Ref(), "digest", out.Digest, "images", out.Images, "by", out.CreatedBy)
	}
	return out, created, err
}

func (s *Service) size(ctx context.Context, sha string) (int64, error) {
	rc, err := s.blobs.Open(ctx, sha, 0, -1)
	if err != nil {
		return 0, vise.Errorf(vise.CodeInvalid, "image %s is not in the blob store: upload it first (PUT /v1/artifacts/%s)", sha, sha)
	}
	defer rc.Close()
	return rc.Size(), nil
}

// imageSize decodes an image's header from the blob store.
func (s *Service) imageSize(ctx context.Context, sha string) (w, h int, err error) {
	rc, err := s.blobs.Open(ctx, sha, 0, -1)
	if err != nil {
		return 0, 0, vise.Errorf(vise.CodeInvalid, "image %s is not in the blob store: upload it first (PUT /v1/artifacts/%s)", sha, sha)
	}
	defer rc.Close()
	cfg, _, err := image.DecodeConfig(io.LimitReader(rc, 1<<20))
	if err != nil {
		return 0, 0, vise.Errorf(vise.CodeInvalid, "blob %s is not a JPEG or PNG image", sha)
	}
	return cfg.Width, cfg.Height, nil
}

// Shot is the camera shot an image file belongs to: the name before
// "-cropped-" (several crops of one photograph look alike and must not be
// split apart), else the name without its extension.
func Shot(name string) string {
	if i := strings.Index(name, "-cropped-"); i > 0 {
		return name[:i]
	}
	return strings.TrimSuffix(name, extension(name))
}

func extension(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// splitOf puts a fifth of the groups into validation, by a hash of the
// group's key, so a group's images always land together and a later
// version keeps each group where it was.
func splitOf(key string) string {
	h := fnv.New32a()
	h.Write([]byte(key))
	if h.Sum32()%5 == 0 {
		return vise.SplitVal
	}
	return vise.SplitTrain
}
