// Package registry is the model registry and the component store: it takes
// uploads into the content-addressed blob store, reads and checks ONNX files,
// applies approval decisions, keeps component versions immutable, and has
// every recipe and artifact signed into the release metadata devices verify.
package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/release"
	"github.com/vise-edge/vise/store"
)

// Signer adds targets to the signed release metadata.
type Signer interface {
	AddTargets(targets ...release.Target) error
}

// Options configure a Registry. All fields but Now and Logger are required.
type Options struct {
	Store   *store.Store
	Blobs   *blobs.Store
	Signer  Signer
	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // default: time.Now
	Metrics *Metrics         // default: unregistered counters
	// Gate is the quality gate every registration must pass; a version
	// that fails it is stored as Rejected with the reason.
	Gate []Rule
	// AutoApprove approves versions that pass the gate.
	AutoApprove bool
}

// Registry is safe for concurrent use.
type Registry struct {
	store   *store.Store
	blobs   *blobs.Store
	signer  Signer
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics
	gate    []Rule
	auto    bool
}

// New makes a Registry.
func New(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	return &Registry{store: opts.Store, blobs: opts.Blobs, signer: opts.Signer, log: opts.Logger, now: opts.Now, metrics: opts.Metrics,
		gate: opts.Gate, auto: opts.AutoApprove}
}

// Upload streams an artifact into the blob store and records it. size is
// the announced length (-1 if unknown) and sha the announced digest ("" if
// unknown); a mismatch keeps nothing.
func (r *Registry) Upload(ctx context.Context, body io.Reader, size int64, sha string) (vise.Artifact, error) {
	if sha != "" {
		if err := vise.ValidateSHA256(sha); err != nil {
			return vise.Artifact{}, err
		}
	}
	a, err := r.blobs.Put(ctx, body, size, sha)
	if err != nil {
		r.metrics.uploadsRejected.Inc()
		return vise.Artifact{}, blobs.ReadError(err)
	}
	if err := r.store.PutArtifact(ctx, a); err != nil {
		return vise.Artifact{}, err
	}
	r.metrics.uploadedBytes.Add(float64(a.Size))
	if err := r.signer.AddTargets(release.Target{Path: ArtifactTarget(a.SHA256), Length: a.Size, SHA256: a.SHA256}); err != nil {
		return vise.Artifact{}, fmt.Errorf("sign artifact %s: %w", a.SHA256, err)
	}
	return a, nil
}

// Artifact returns a recorded artifact.
func (r *Registry) Artifact(ctx context.Context, sha string) (vise.Artifact, error) {
	if err := vise.ValidateSHA256(sha); err != nil {
		return vise.Artifact{}, err
	}
	return r.store.GetArtifact(ctx, sha)
}

// OpenArtifact reads a recorded artifact from offset for length bytes (-1:
// to the end).
func (r *Registry) OpenArtifact(ctx context.Context, sha string, offset, length int64) (io.ReadCloser, error) {
	return r.blobs.Open(ctx, sha, offset, length)
}

// ArtifactTarget is an artifact's path in the signed release metadata.
func ArtifactTarget(sha string) string { return "artifacts/" + sha }

// RecipeTarget is a recipe's path in the signed release metadata.
func RecipeTarget(name, version string) string {
	return "components/" + name + "/" + version + "/recipe.json"
}
