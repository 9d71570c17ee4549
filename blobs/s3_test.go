package blobs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/blobs/s3test"
)

func openS3(t *testing.T, s *s3test.Server) *blobs.Store {
	t.Helper()
	st, err := blobs.Open(ctx, s.URL(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Upload, a second upload of the same content, ranged reads (what a
// device's resumed download asks for), and the bucket holding only the
// content-addressed key afterwards: the temporary upload key is deleted.
func TestS3PutAndRangedRead(t *testing.T) {
	s := s3test.Start(t)
	st := openS3(t, s)
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	data := strings.Repeat("a model's bytes; ", 1000)
	a, err := st.Put(ctx, strings.NewReader(data), int64(len(data)), digest(data))
	if err != nil || a.SHA256 != digest(data) || a.Size != int64(len(data)) {
		t.Fatalf("put: %+v %v", a, err)
	}
	if _, err := st.Put(ctx, strings.NewReader(data), -1, ""); err != nil {
		t.Fatalf("second put of the same content: %v", err)
	}
	if keys := s.Keys(t); len(keys) != 1 || keys[0] != blobs.Key(a.SHA256) {
		t.Errorf("bucket keys = %v; want only %s", keys, blobs.Key(a.SHA256))
	}
	for _, r := range []struct{ off, n int64 }{{0, -1}, {1000, 500}, {int64(len(data)) - 7, -1}} {
		rc, err := st.Open(ctx, a.SHA256, r.off, r.n)
		if err != nil {
			t.Fatalf("open at %d: %v", r.off, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(data))
		if r.n >= 0 {
			end = r.off + r.n
		}
		if err != nil || string(got) != data[r.off:end] {
			t.Errorf("range %d+%d: %d bytes, %v; want %d", r.off, r.n, len(got), err, end-r.off)
		}
	}
	if ok, err := st.Exists(ctx, a.SHA256); !ok || err != nil {
		t.Errorf("exists: %v %v", ok, err)
	}
	_, err = st.Open(ctx, digest("never stored"), 0, -1)
	if vise.ErrorCode(err) != vise.CodeNotFound {
		t.Errorf("open of a missing blob: %v; want not found", err)
	}
	// A wrong digest stores nothing, and leaves no temporary key behind.
	if _, err := st.Put(ctx, strings.NewReader("other"), 5, digest("something else")); vise.ErrorCode(err) != vise.CodeInvalid {
		t.Errorf("put with a wrong digest: %v; want invalid", err)
	}
	if keys := s.Keys(t); len(keys) != 1 {
		t.Errorf("bucket keys after a refused upload = %v; want the one blob", keys)
	}
}

// A 200 MB artifact streams through (multipart upload) and reads back from
// the middle.
func TestS3LargeArtifact(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MB; skipped with -short")
	}
	s := s3test.Start(t)
	st := openS3(t, s)
	const size = 200 << 20
	src := func() io.Reader { return io.LimitReader(rand.NewChaCha8([32]byte{7}), size) }
	h := sha256.New()
	io.Copy(h, src())
	sha := hex.EncodeToString(h.Sum(nil))
	a, err := st.Put(ctx, src(), size, sha)
	if err != nil || a.Size != size {
		t.Fatalf("put 200 MB: %+v %v", a, err)
	}
	want := make([]byte, 1<<20)
	r := src()
	io.CopyN(io.Discard, r, 150<<20)
	io.ReadFull(r, want)
	rc, err := st.Open(ctx, sha, 150<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("1 MB read at 150 MB: %d bytes, %v; want the same bytes as written", len(got), err)
	}
}

// An S3 server answering 503 is retried (the SDK's backoff); one that is
// gone is a clear "unavailable" naming the store, and Ping (readiness)
// says so.
func TestS3Faults(t *testing.T) {
	s := s3test.Start(t)
	st := openS3(t, s)
	s.Fail(2)
	if _, err := st.Put(ctx, strings.NewReader("x"), 1, ""); err != nil {
		t.Fatalf("put through two 503s: %v", err)
	}
	if n := s.Failed(); n != 2 {
		t.Errorf("the server answered 503 %d times; want 2 (then the retries got through)", n)
	}
	s.Close()
	_, err := st.Put(ctx, strings.NewReader("y"), 1, "")
	if vise.ErrorCode(err) != vise.CodeUnavailable || !strings.Contains(err.Error(), "blob store s3://vise") {
		t.Errorf("put with the S3 server gone: %v; want unavailable naming the store", err)
	}
	if err := st.Ping(ctx); vise.ErrorCode(err) != vise.CodeUnavailable {
		t.Errorf("ping with the S3 server gone: %v; want unavailable", err)
	}
}
