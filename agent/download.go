package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/atomicfile"
	"github.com/vise-edge/vise/deviceapi"
)

// casPath is where an artifact lives in the device's content-addressed cache.
func (a *Agent) casPath(sha string) string { return a.path("artifacts", "sha256", sha) }

// fetchArtifact makes sure the cache holds the artifact with this digest
// and size. It is never downloaded twice; a cut download resumes where it
// stopped (HTTP Range) and the bytes are hashed as they arrive. Only a
// complete, matching file enters the cache.
func (a *Agent) fetchArtifact(ctx context.Context, sha string, size int64) error {
	final := a.casPath(sha)
	if fi, err := os.Stat(final); err == nil && fi.Size() == size {
		a.Metrics.add(func(m *Metrics) { m.CacheHits++ })
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return err
	}
	if c := a.cfg.SharedCache; c != nil {
		return a.fetchShared(ctx, c, sha, size)
	}
	return a.fetchOwn(ctx, sha, size)
}

// fetchOwn downloads an artifact into this device's cache.
func (a *Agent) fetchOwn(ctx context.Context, sha string, size int64) error {
	final := a.casPath(sha)
	part := a.path("artifacts", "partial", sha)
	if err := os.MkdirAll(filepath.Dir(part), 0o700); err != nil {
		return err
	}
	var lastErr error
	for attempt := range 8 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		done, err := a.downloadOnce(ctx, sha, size, part)
		if err == nil && done {
			break
		}
		lastErr = err
		var ve *vise.Error
		if errors.As(err, &ve) || errors.Is(err, syscall.ENOSPC) {
			os.Remove(part)
			return err // corrupt content or a full disk: retrying will not help
		}
		a.log.Info("artifact download interrupted; resuming", "sha256", sha[:12], "attempt", attempt+1, "err", err)
	}
	if _, err := os.Stat(part); err != nil || lastErr != nil && !fileHasSize(part, size) {
		return fmt.Errorf("download artifact %s: %w", sha[:12], lastErr)
	}
	if err := verifyFile(part, sha, size); err != nil {
		os.Remove(part)
		return err
	}
	if err := os.Rename(part, final); err != nil {
		return err
	}
	a.Metrics.add(func(m *Metrics) { m.ArtifactsFetched++ })
	return atomicfile.SyncDir(filepath.Dir(final))
}

func fileHasSize(path string, size int64) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() == size
}

// downloadOnce appends to the partial file from where it ends.
func (a *Agent) downloadOnce(ctx context.Context, sha string, size int64, part string) (bool, error) {
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	if off > size {
		f.Truncate(0)
		off = 0
	}
	if off == size {
		return true, nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.cfg.Server+deviceapi.ArtifactsPath+sha, nil)
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case off > 0 && resp.StatusCode == http.StatusPartialContent:
	case resp.StatusCode == http.StatusOK:
		if off > 0 { // the server ignored the range: start over
			f.Truncate(0)
			f.Seek(0, io.SeekStart)
			off = 0
		}
	default:
		return false, apiError(resp, "download artifact "+sha[:12])
	}
	a.log.Info("downloading artifact", "sha256", sha[:12], "from", off, "size", size)
	n, err := io.Copy(f, io.LimitReader(resp.Body, size-off))
	a.Metrics.add(func(m *Metrics) { m.DownloadedBytes += n })
	if err != nil {
		return false, err
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	return off+n == size, nil
}

// verifyFile hashes a file and compares digest and size.
func verifyFile(path, sha string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != sha {
		return vise.Errorf(vise.CodeInvalid, "artifact %s failed verification: got %d bytes with sha256 %s, the signed metadata says %d bytes", sha[:12], n, got[:12], size)
	}
	return nil
}
