package tufclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

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
	for v, last := c.root.Version+1, c.root.Version+c.opts.MaxRootRotations; v <= last; v++ {
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
	return c.root.unexpired("final root.json", c.now)
}

// updateTimestamp: never older than the trusted one, nor pointing at an
// older snapshot (§5.4). An equal version keeps the trusted file.
func (c *Client) updateTimestamp(ctx context.Context) error {
	if b, err := c.local(roleTimestamp); err == nil {
		if ts, err := verified[filesMeta](c, b, roleTimestamp); err == nil {
			c.ts = ts // one that rotated-out keys signed is no longer trusted, nor checked against
		}
	}
	b, err := c.get(ctx, c.opts.MetadataURL, "timestamp.json", maxTimestamp)
	if err != nil {
		return err
	}
	ts, err := verified[filesMeta](c, b, roleTimestamp)
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
	if err := ts.unexpired("timestamp.json", c.now); err != nil {
		return err
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
		trusted, _ = verified[filesMeta](c, b, roleSnapshot) // nil unless it verifies
		if trusted != nil && trusted.Version == want.Version && !trusted.expired(c.now) {
			c.snap = trusted
			return nil // the one the timestamp names: nothing to download
		}
	}
	b, err := c.getListed(ctx, roleSnapshot, want, maxSnapshot)
	if err != nil {
		return err
	}
	snap, err := verified[filesMeta](c, b, roleSnapshot)
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
	if err := snap.unexpired("snapshot.json", c.now); err != nil {
		return err
	}
	if snap.Version != want.Version {
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
		if t, err := verified[targetsMeta](c, b, roleTargets); err == nil && fresh(t) {
			c.targets = t
			return nil
		}
	}
	b, err := c.getListed(ctx, roleTargets, want, maxTargets)
	if err != nil {
		return err
	}
	t, err := verified[targetsMeta](c, b, roleTargets)
	if err != nil {
		return err
	}
	if t.Version != want.Version {
		return fmt.Errorf("expected targets version %d, got %d", want.Version, t.Version)
	}
	if err := t.unexpired("targets.json", c.now); err != nil {
		return err
	}
	c.targets = t
	return c.persist(roleTargets, b)
}

// verified parses a timestamp, snapshot or targets file and checks its
// signatures against the trusted root: nil and why, if either fails.
func verified[M any, P interface {
	*M
	base() *common
}](c *Client, b []byte, roleName string) (P, error) {
	m := P(new(M))
	s, err := parse(b, roleName, m)
	if err == nil {
		err = c.root.verify(roleName, s)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// getListed downloads the metadata file of roleName as the file listing it
// describes it: no longer than its length (or limit, if it gives none),
// and matching its hashes, if it gives any.
func (c *Client) getListed(ctx context.Context, roleName string, want metaFile, limit int64) ([]byte, error) {
	name := roleName + ".json"
	b, err := c.get(ctx, c.opts.MetadataURL, name, bound(want.Length, limit))
	if err != nil {
		return nil, err
	}
	if err := checkFile(name, b, want.Length, want.Hashes); err != nil {
		return nil, err
	}
	return b, nil
}

func bound(length, limit int64) int64 {
	if length > 0 {
		return length
	}
	return limit
}
