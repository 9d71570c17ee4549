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
	maxRootBytes = 512000
	maxTimestamp = 16384
	maxSnapshot  = 2000000
	maxTargets   = 5000000
)

// Options configure New. Zero values take the defaults noted.
type Options struct {
	MetadataURL string           // required: files are fetched at MetadataURL/<name>
	TargetsURL  string           // required: targets at TargetsURL/<path>
	Dir         string           // required: the trusted metadata, created 0700
	Root        []byte           // the root to trust when Dir holds none (from enrollment)
	HTTP        *http.Client     // default: http.DefaultClient
	Now         func() time.Time // default: time.Now
	// MaxRootRotations bounds the new roots one refresh walks (default
	// 256, as go-tuf): a server cannot keep a device walking forever.
	MaxRootRotations int64
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
	if opts.MaxRootRotations == 0 {
		opts.MaxRootRotations = 256
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
