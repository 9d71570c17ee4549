// Package blobs keeps content-addressed artifacts — model files, component
// binaries, inspection images — in a gocloud.dev bucket: a local directory by
// default, S3 (or any S3-compatible store) by URL. A blob's key is its
// sha256, so a blob is stored once however often it is uploaded.
package blobs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"

	"github.com/vise-edge/vise"

	_ "gocloud.dev/blob/s3blob" // registers s3://
)

// DefaultMaxSize bounds one upload: a model or a runtime library is far
// smaller; anything larger is a mistake or an attack.
const DefaultMaxSize = 4 << 30

// Store is safe for concurrent use.
type Store struct {
	bucket  *blob.Bucket
	maxSize int64
	where   string
}

// Open opens a bucket by URL ("s3://bucket?region=...", "file:///abs/dir")
// or, for a plain path, a local directory (created 0700 if missing).
func Open(ctx context.Context, rawURL string, maxSize int64) (*Store, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	s := &Store{maxSize: maxSize, where: rawURL}
	var err error
	if dir, ok := localDir(rawURL); ok {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, vise.Errorf(vise.CodeUnavailable, "cannot create the blob directory %s: %w", dir, err)
		}
		// No sidecar attribute files: the key says everything we need.
		s.bucket, err = fileblob.OpenBucket(dir, &fileblob.Options{Metadata: fileblob.MetadataDontWrite, DirFileMode: 0o700})
	} else {
		s.bucket, err = blob.OpenBucket(ctx, rawURL)
	}
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "cannot open blob store %q: %w", rawURL, err)
	}
	return s, nil
}

func localDir(raw string) (string, bool) {
	if !strings.Contains(raw, "://") {
		abs, err := filepath.Abs(raw)
		return abs, err == nil
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme == "file" {
		return u.Path, true
	}
	return "", false
}

// Close closes the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// Key is where a blob with this digest lives.
func Key(sha string) string { return "sha256/" + sha[:2] + "/" + sha }

// Put streams r into the store while hashing it. If size is not negative,
// exactly that many bytes must arrive; if sha is not empty, the content must
// hash to it. Otherwise nothing is kept and the error says which check
// failed. A blob already present is not written twice.
func (s *Store) Put(ctx context.Context, r io.Reader, size int64, sha string) (vise.Artifact, error) {
	if size > s.maxSize {
		return vise.Artifact{}, vise.Errorf(vise.CodeTooLarge, "upload of %d bytes is over the limit of %d bytes", size, s.maxSize)
	}
	tmp := "uploads/" + rand.Text()
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	w, err := s.bucket.NewWriter(wctx, tmp, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return vise.Artifact{}, s.unavailable("start upload", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, s.maxSize+1))
	if err == nil {
		err = checkUpload(n, size, s.maxSize)
	}
	if err != nil {
		abort() // a cancelled context makes Close discard the partial blob
		w.Close()
		return vise.Artifact{}, err
	}
	if err := w.Close(); err != nil {
		return vise.Artifact{}, s.unavailable("finish upload", err)
	}
	defer s.bucket.Delete(context.WithoutCancel(ctx), tmp)
	a := vise.Artifact{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	if sha != "" && sha != a.SHA256 {
		return vise.Artifact{}, vise.Errorf(vise.CodeInvalid, "upload corrupted: content hashes to sha256 %s, not the %s it was sent as; upload it again", a.SHA256, sha)
	}
	if ok, err := s.bucket.Exists(ctx, Key(a.SHA256)); err != nil {
		return vise.Artifact{}, s.unavailable("check blob", err)
	} else if ok {
		return a, nil
	}
	if err := s.bucket.Copy(ctx, Key(a.SHA256), tmp, nil); err != nil {
		return vise.Artifact{}, s.unavailable("store blob", err)
	}
	return a, nil
}

func checkUpload(n, size, max int64) error {
	switch {
	case n > max:
		return vise.Errorf(vise.CodeTooLarge, "upload is over the limit of %d bytes", max)
	case size >= 0 && n < size:
		return vise.Errorf(vise.CodeInvalid, "upload truncated: got %d of %d bytes; nothing was stored, upload it again", n, size)
	case size >= 0 && n > size:
		return vise.Errorf(vise.CodeInvalid, "upload longer than announced: got %d bytes, expected %d", n, size)
	}
	return nil
}

// ReadError tells a reader's caller whether a failure mid-upload came from
// the client (a cut connection, a truncated body) rather than the store.
func ReadError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected EOF") {
		return vise.Errorf(vise.CodeInvalid, "upload truncated: the connection ended early; nothing was stored, upload it again")
	}
	return err
}

// Exists reports whether a blob is stored.
func (s *Store) Exists(ctx context.Context, sha string) (bool, error) {
	ok, err := s.bucket.Exists(ctx, Key(sha))
	if err != nil {
		return false, s.unavailable("check blob", err)
	}
	return ok, nil
}

// Open returns a reader for length bytes from offset (length -1: to the end).
func (s *Store) Open(ctx context.Context, sha string, offset, length int64) (*blob.Reader, error) {
	r, err := s.bucket.NewRangeReader(ctx, Key(sha), offset, length, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, vise.Errorf(vise.CodeNotFound, "blob %s is not in the blob store", sha)
	}
	if err != nil {
		return nil, s.unavailable("read blob", err)
	}
	return r, nil
}

func (s *Store) unavailable(op string, err error) error {
	return vise.Errorf(vise.CodeUnavailable, "%s: blob store %s: %w", op, s.where, err)
}

// Ping tells whether the store answers: the directory is there, or the
// bucket exists and the credentials reach it.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.bucket.IsAccessible(ctx)
	if err == nil && !ok {
		err = errors.New("the bucket or directory does not exist")
	}
	if err != nil {
		return s.unavailable("ping", err)
	}
	return nil
}

// String names the store for logs.
func (s *Store) String() string { return fmt.Sprintf("blobs(%s)", s.where) }
