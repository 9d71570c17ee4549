// Package tufclient is the device's side of Vise's signed release
// metadata: the client workflow of The Update Framework (TUF
// specification 1.0, §5) for what the server's package release signs —
// the four top-level roles, ed25519 keys, consistent snapshots off, no
// delegations. It checks signatures and thresholds, expiry, versions (no
// rollback, kept across restarts in a directory of its own), root
// rotation, and the length and hash of every file, with the standard
// library only: the device binary stays small (go-tuf pulls in sigstore
// and protobuf, 2 MB of a 11 MB agent; docs/decisions/0029). The server
// keeps go-tuf; this package's tests check that both clients accept and
// refuse the same repositories.
package tufclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vise-edge/vise/atomicfile"
)

// Size bounds for metadata downloads, as go-tuf's defaults: an endless
// response cannot exhaust the device.
const (
	maxRootRotations = 256
	maxRootBytes     = 512000
	maxTimestamp     = 16384
	maxSnapshot      = 2000000
	maxTargets       = 5000000
)

// Options configure New. Zero values take the defaults noted.
type Options struct {
	MetadataURL string           // required: files are fetched at MetadataURL/<name>
	TargetsURL  string           // required: targets at TargetsURL/<path>
	Dir         string           // required: the trusted metadata, created 0700
	Root        []byte           // the root to trust when Dir holds none (from enrollment)
	HTTP        *http.Client     // default: http.DefaultClient
	Now         func() time.Time // default: time.Now
}

// Client verifies release metadata and targets against a trusted root.
type Client struct {
	opts    Options
	now     time.Time // the reference time of one refresh (TUF §5.1)
	root    *rootMeta
	ts      *filesMeta
	snap    *filesMeta
	targets *targetsMeta
}

// Target is a file the release metadata signs.
type Target struct {
	Path   string
	Length int64
	SHA256 string // hex
}

// ErrNotListed: a path is not in the signed targets.
var ErrNotListed = errors.New("not in the signed release metadata")

// HTTPError is a download the server answered with a status other than
// 200; callers tell a server fault (5xx) from a refusal by it.
type HTTPError struct {
	URL        string
	StatusCode int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: server answered %d", e.URL, e.StatusCode)
}

// New trusts the newest root in Dir, or else opts.Root, once it verifies
// against itself (TUF §5.2).
func New(opts Options) (*Client, error) {
	if opts.HTTP == nil {
		opts.HTTP = http.DefaultClient
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("release metadata directory: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(opts.Dir, "root.json"))
	if errors.Is(err, os.ErrNotExist) {
		b, err = opts.Root, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	c := &Client{opts: opts}
	r := &rootMeta{}
	s, err := parse(b, roleRoot, r)
	if err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	if err := r.verify(roleRoot, s); err != nil {
		return nil, fmt.Errorf("trusted root: %w", err)
	}
	c.root = r
	return c, nil
}

// Refresh brings the trusted metadata up to date: root, then timestamp,
// snapshot and targets, each verified against the one before and against
// what this device trusted before (TUF §5.3–§5.6). On an error the client
// must not be used; what was verified before the error stays persisted.
func (c *Client) Refresh(ctx context.Context) error {
	c.now = c.opts.Now().UTC()
	if err := c.updateRoot(ctx); err != nil {
		return err
	}
	if err := c.updateTimestamp(ctx); err != nil {
		return err
	}
	if err := c.updateSnapshot(ctx); err != nil {
		return err
	}
	return c.updateTargets(ctx)
}

// updateRoot walks N+1.root.json, N+2.root.json… while the server has
// them; each must be signed by the threshold of the previous root's root
// keys and of its own (§5.3).
func (c *Client) updateRoot(ctx context.Context) error {
	for v := c.root.Version + 1; v <= c.root.Version+maxRootRotations; v++ {
		b, err := c.get(ctx, c.opts.MetadataURL, fmt.Sprintf("%d.root.json", v), maxRootBytes)
		var he *HTTPError
		if errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusForbidden) {
			break
		}
		if err != nil {
			return err
		}
		r := &rootMeta{}
		s, err := parse(b, roleRoot, r)
		if err != nil {
			return err
		}
		if err := c.root.verify(roleRoot, s); err != nil {
			return fmt.Errorf("root version %d against root %d: %w", v, c.root.Version, err)
		}
		if r.Version != v {
			return fmt.Errorf("bad root version number, expected %d, got %d", v, r.Version)
		}
		if err := r.verify(roleRoot, s); err != nil {
			return fmt.Errorf("root version %d against itself: %w", v, err)
		}
		c.root = r
		if err := c.persist(roleRoot, b); err != nil {
			return err
		}
	}
	if c.root.expired(c.now) {
		return fmt.Errorf("final root.json (version %d) is expired since %s", c.root.Version, c.root.Expires.Format(time.RFC3339))
	}
	return nil
}

// updateTimestamp: never older than the trusted one, nor pointing at an
// older snapshot (§5.4). An equal version keeps the trusted file.
func (c *Client) updateTimestamp(ctx context.Context) error {
	if b, err := c.local(roleTimestamp); err == nil {
		if ts, err := c.verified(b, roleTimestamp); err == nil {
			c.ts = ts // one that rotated-out keys signed is no longer trusted, nor checked against
		}
	}
	b, err := c.get(ctx, c.opts.MetadataURL, "timestamp.json", maxTimestamp)
	if err != nil {
		return err
	}
	ts, err := c.verified(b, roleTimestamp)
	if err != nil {
		return err
	}
	if _, ok := ts.Meta["snapshot.json"]; !ok {
		return errors.New("timestamp.json lists no snapshot.json")
	}
	if old := c.ts; old != nil {
		switch {
		case ts.Version < old.Version:
			return fmt.Errorf("new timestamp version %d must be >= %d", ts.Version, old.Version)
		case ts.Version == old.Version:
			ts, b = old, nil // nothing new
		case ts.Meta["snapshot.json"].Version < old.Meta["snapshot.json"].Version:
			return fmt.Errorf("new snapshot version %d must be >= %d", ts.Meta["snapshot.json"].Version, old.Meta["snapshot.json"].Version)
		}
	}
	c.ts = ts
	if ts.expired(c.now) {
		return fmt.Errorf("timestamp.json (version %d) is expired since %s", ts.Version, ts.Expires.Format(time.RFC3339))
	}
	if b == nil {
		return nil
	}
	return c.persist(roleTimestamp, b)
}

// updateSnapshot: the version timestamp names, and no metadata file it
// lists older than in the trusted snapshot (§5.5).
func (c *Client) updateSnapshot(ctx context.Context) error {
	want := c.ts.Meta["snapshot.json"]
	var trusted *filesMeta
	if b, err := c.local(roleSnapshot); err == nil {
		trusted, _ = c.verified(b, roleSnapshot) // nil unless it verifies
		if trusted != nil && trusted.Version == want.Version && !trusted.expired(c.now) {
			c.snap = trusted
			return nil // the one the timestamp names: nothing to download
		}
	}
	b, err := c.get(ctx, c.opts.MetadataURL, "snapshot.json", bound(want.Length, maxSnapshot))
	if err != nil {
		return err
	}
	if err := checkFile("snapshot.json", b, want.Length, want.Hashes); err != nil {
		return err
	}
	snap, err := c.verified(b, roleSnapshot)
	if err != nil {
		return err
	}
	if trusted != nil {
		for name, old := range trusted.Meta {
			switch nf, ok := snap.Meta[name]; {
			case !ok:
				return fmt.Errorf("new snapshot is missing info for %s", name)
			case nf.Version < old.Version:
				return fmt.Errorf("new snapshot lists %s version %d; it must be >= %d", name, nf.Version, old.Version)
			}
		}
	}
	switch {
	case snap.expired(c.now):
		return fmt.Errorf("snapshot.json (version %d) is expired since %s", snap.Version, snap.Expires.Format(time.RFC3339))
	case snap.Version != want.Version:
		return fmt.Errorf("expected snapshot version %d, got %d", want.Version, snap.Version)
	}
	c.snap = snap
	return c.persist(roleSnapshot, b)
}

// updateTargets: the version snapshot names (§5.6).
func (c *Client) updateTargets(ctx context.Context) error {
	want, ok := c.snap.Meta["targets.json"]
	if !ok {
		return errors.New("snapshot.json lists no targets.json")
	}
	fresh := func(t *targetsMeta) bool { return t.Version == want.Version && !t.expired(c.now) }
	if b, err := c.local(roleTargets); err == nil {
		if t, err := c.verifiedTargets(b); err == nil && fresh(t) {
			c.targets = t
			return nil
		}
	}
	b, err := c.get(ctx, c.opts.MetadataURL, "targets.json", bound(want.Length, maxTargets))
	if err != nil {
		return err
	}
	if err := checkFile("targets.json", b, want.Length, want.Hashes); err != nil {
		return err
	}
	t, err := c.verifiedTargets(b)
	if err != nil {
		return err
	}
	if t.Version != want.Version {
		return fmt.Errorf("expected targets version %d, got %d", want.Version, t.Version)
	}
	if t.expired(c.now) {
		return fmt.Errorf("targets.json (version %d) is expired since %s", t.Version, t.Expires.Format(time.RFC3339))
	}
	c.targets = t
	return c.persist(roleTargets, b)
}

// verified parses a timestamp or snapshot file and checks its signatures.
func (c *Client) verified(b []byte, roleName string) (*filesMeta, error) {
	m := &filesMeta{}
	s, err := parse(b, roleName, m)
	if err != nil {
		return nil, err
	}
	if err := c.root.verify(roleName, s); err != nil {
		return nil, err
	}
	return m, nil
}

func (c *Client) verifiedTargets(b []byte) (*targetsMeta, error) {
	t := &targetsMeta{}
	s, err := parse(b, roleTargets, t)
	if err != nil {
		return nil, err
	}
	if err := c.root.verify(roleTargets, s); err != nil {
		return nil, err
	}
	return t, nil
}

// Target returns what the refreshed metadata signs for path.
func (c *Client) Target(path string) (Target, error) {
	if c.targets == nil {
		return Target{}, errors.New("release metadata not refreshed")
	}
	tf, ok := c.targets.Targets[path]
	if !ok {
		return Target{}, fmt.Errorf("%s is %w", path, ErrNotListed)
	}
	sum, ok := tf.Hashes["sha256"]
	if !ok || len(sum) != 64 {
		return Target{}, fmt.Errorf("%s is signed without a sha256 hash", path)
	}
	return Target{Path: path, Length: tf.Length, SHA256: strings.ToLower(sum)}, nil
}

// Fetch downloads a target into memory and verifies its length and hash;
// for small targets (the caller streams large ones itself).
func (c *Client) Fetch(ctx context.Context, t Target) ([]byte, error) {
	if c.targets == nil || c.targets.Targets[t.Path].Hashes == nil {
		return nil, fmt.Errorf("%s is %w", t.Path, ErrNotListed)
	}
	b, err := c.get(ctx, c.opts.TargetsURL, t.Path, t.Length)
	if err != nil {
		return nil, err
	}
	if err := checkFile(t.Path, b, t.Length, c.targets.Targets[t.Path].Hashes); err != nil {
		return nil, err
	}
	return b, nil
}

// get downloads base/name, refusing more than limit bytes.
func (c *Client) get(ctx context.Context, base, name string, limit int64) ([]byte, error) {
	url := strings.TrimSuffix(base, "/") + "/" + name
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("release metadata request: %w", err)
	}
	resp, err := c.opts.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{URL: url, StatusCode: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: more than the %d bytes allowed", url, limit)
	}
	return b, nil
}

func bound(length, limit int64) int64 {
	if length > 0 {
		return length
	}
	return limit
}

func (c *Client) local(roleName string) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.opts.Dir, roleName+".json"))
}

// persist keeps a verified file for the next refresh, owner-readable only.
func (c *Client) persist(roleName string, b []byte) error {
	if err := atomicfile.Write(filepath.Join(c.opts.Dir, roleName+".json"), b, 0o600); err != nil {
		return fmt.Errorf("keep verified %s.json: %w", roleName, err)
	}
	return nil
}
