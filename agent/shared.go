package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
)

// SharedCache is one artifact cache for many agents in one process, the
// fleet simulator's. Every agent still downloads each artifact it needs
// from the server and checks its digest, the way a device does, so the
// server's fan-out is real; but the bytes go to disk once per digest, and
// each agent's cache entry is a hard link to that one copy. A thousand
// simulated devices then cost the disk one artifact, not a thousand.
type SharedCache struct {
	dir     string
	mu      sync.Mutex
	entries map[string]*sharedEntry
}

// sharedEntry is one digest: done is closed once its writer finished,
// with err nil if the file is in place.
type sharedEntry struct {
	done chan struct{}
	err  error
}

// NewSharedCache keeps its files in dir, which must be on the file system
// of the agents' data directories (hard links).
func NewSharedCache(dir string) (*SharedCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("shared artifact cache: %w", err)
	}
	return &SharedCache{dir: dir, entries: map[string]*sharedEntry{}}, nil
}

func (c *SharedCache) path(sha string) string { return filepath.Join(c.dir, sha) }

// claim returns the digest's entry, and whether the caller is to write it.
func (c *SharedCache) claim(sha string) (*sharedEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[sha]; ok {
		return e, false
	}
	e := &sharedEntry{done: make(chan struct{})}
	c.entries[sha] = e
	return e, true
}

// finish records the writer's outcome; a failed digest can be claimed again.
func (c *SharedCache) finish(sha string, e *sharedEntry, from string, err error) {
	if err == nil {
		os.Remove(c.path(sha))
		err = os.Link(from, c.path(sha))
	}
	e.err = err
	if err != nil {
		c.mu.Lock()
		delete(c.entries, sha)
		c.mu.Unlock()
	}
	close(e.done)
}

// fetchShared is fetchArtifact with a shared cache: the first agent to need
// a digest writes it; the others download and verify it without keeping
// the bytes, then link the writer's copy.
func (a *Agent) fetchShared(ctx context.Context, c *SharedCache, sha string, size int64) error {
	for {
		e, writer := c.claim(sha)
		if writer {
			err := a.fetchOwn(ctx, sha, size)
			c.finish(sha, e, a.casPath(sha), err)
			return err
		}
		if err := a.downloadVerify(ctx, sha, size); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.done:
		}
		if e.err == nil {
			if err := os.Link(c.path(sha), a.casPath(sha)); err != nil {
				return fmt.Errorf("link shared artifact %s: %w", sha[:12], err)
			}
			a.Metrics.add(func(m *Metrics) { m.ArtifactsFetched++ })
			return nil
		}
		// The writer failed: this agent has verified the content, but it
		// kept no copy. Claim the digest (or wait for another writer).
	}
}

// downloadVerify downloads an artifact into its digest only, resuming
// where a cut download stopped.
func (a *Agent) downloadVerify(ctx context.Context, sha string, size int64) error {
	h := sha256.New()
	var n int64
	var lastErr error
	for attempt := 0; attempt < 8 && n < size; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.Server+deviceapi.ArtifactsPath+sha, nil)
		if n > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(n, 10)+"-")
		}
		resp, err := a.http.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		switch {
		case n > 0 && resp.StatusCode == http.StatusPartialContent:
		case resp.StatusCode == http.StatusOK:
			h.Reset() // a whole body, from the start
			n = 0
		default:
			err := apiError(resp, "download artifact "+sha[:12])
			resp.Body.Close()
			return err
		}
		got, err := io.Copy(h, io.LimitReader(resp.Body, size-n))
		resp.Body.Close()
		n += got
		a.Metrics.add(func(m *Metrics) { m.DownloadedBytes += got })
		lastErr = err
	}
	if n < size {
		return fmt.Errorf("download artifact %s: %w", sha[:12], lastErr)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return vise.Errorf(vise.CodeInvalid, "artifact %s failed verification: got sha256 %s", sha[:12], got[:12])
	}
	return nil
}
