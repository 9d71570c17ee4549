// Package release keeps Vise's signed release metadata: a TUF repository
// (The Update Framework, via go-tuf v2) whose targets are every artifact,
// recipe and deployment document a device may act on. Devices hold the root
// metadata from enrollment and verify everything against it — signatures,
// expiry, versions (no rollback), lengths and hashes — before using it.
// This package never holds the target bytes themselves.
package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Options configure Open. Zero values take the defaults noted.
type Options struct {
	Dir             string           // required; created 0700
	Logger          *slog.Logger     // default: discard
	Now             func() time.Time // default: time.Now
	RootExpiry      time.Duration    // default 365 days
	TargetsExpiry   time.Duration    // default 90 days
	SnapshotExpiry  time.Duration    // default 7 days
	TimestampExpiry time.Duration    // default 1 day
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.RootExpiry, 365*24*time.Hour)
	def(&o.TargetsExpiry, 90*24*time.Hour)
	def(&o.SnapshotExpiry, 7*24*time.Hour)
	def(&o.TimestampExpiry, 24*time.Hour)
}

// Target is one file devices may verify.
type Target struct {
	Path   string // e.g. "artifacts/<sha256>"
	Length int64
	SHA256 string // hex
	Custom []byte // optional JSON
}

// ErrTargetConflict: a target path is already signed with other content.
// Targets are immutable (content-addressed or versioned).
var ErrTargetConflict = errors.New("target already signed with different content")

// ErrNotFound: no such metadata file.
var ErrNotFound = errors.New("no such release metadata")

var roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// Repo is a TUF repository on disk. Safe for concurrent use.
type Repo struct {
	opts    Options
	log     *slog.Logger
	mu      sync.Mutex
	signers map[string]signature.Signer
	root    *metadata.Metadata[metadata.RootType]
	targets *metadata.Metadata[metadata.TargetsType]
	snap    *metadata.Metadata[metadata.SnapshotType]
	ts      *metadata.Metadata[metadata.TimestampType]
	files   map[string][]byte // served bytes by file name
	views   map[string]*View  // per device, the newest made (view.go)
}

// Open loads the repository in opts.Dir, creating keys and metadata on the
// first start. It never regenerates keys over existing metadata: that would
// cut every enrolled device off.
func Open(opts Options) (*Repo, error) {
	opts.setDefaults()
	if opts.Dir == "" {
		return nil, errors.New("release: no directory given")
	}
	r := &Repo{opts: opts, log: opts.Logger, signers: map[string]signature.Signer{}, files: map[string][]byte{}, views: map[string]*View{}}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "metadata"), 0o700); err != nil {
		return nil, fmt.Errorf("release: create %s: %w", opts.Dir, err)
	}
	_, err := os.Stat(r.metaPath("root.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := r.create(); err != nil {
			return nil, err
		}
		r.log.Info("created release signing keys and metadata", "dir", opts.Dir)
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Repo) metaPath(name string) string { return filepath.Join(r.opts.Dir, "metadata", name) }

func (r *Repo) create() error {
	now := r.opts.Now().UTC()
	r.root = metadata.Root(now.Add(r.opts.RootExpiry))
	r.root.Signed.ConsistentSnapshot = false
	for _, role := range roles {
		if err := r.newKey(role); err != nil {
			return err
		}
	}
	r.targets = metadata.Targets(now.Add(r.opts.TargetsExpiry))
	r.snap = metadata.Snapshot(now.Add(r.opts.SnapshotExpiry))
	r.ts = metadata.Timestamp(now.Add(r.opts.TimestampExpiry))
	if err := r.signRoot(nil); err != nil {
		return err
	}
	return r.signAndSave(true, true, true)
}

// newKey makes and stores a key for role and puts it in root (unsigned).
func (r *Repo) newKey(role string) error {
	s, pub, err := generateKey(filepath.Join(r.opts.Dir, "keys", role+".pem"))
	if err != nil {
		return fmt.Errorf("release: key for %s: %w", role, err)
	}
	key, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return fmt.Errorf("release: key for %s: %w", role, err)
	}
	if err := r.root.Signed.AddKey(key, role); err != nil {
		return fmt.Errorf("release: key for %s: %w", role, err)
	}
	r.signers[role] = s
	return nil
}

// Run refreshes signatures before they expire, hourly, until ctx is done.
func (r *Repo) Run(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := r.Refresh(); err != nil {
			r.log.Error("refresh release metadata", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
