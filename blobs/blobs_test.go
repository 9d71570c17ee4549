package blobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
)

var ctx = context.Background()

func open(t *testing.T, max int64) (*blobs.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	s, err := blobs.Open(ctx, dir, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func stored(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
	return m
}

func TestPut(t *testing.T) {
	const data = "an onnx model, say"
	tests := []struct {
		name   string
		body   io.Reader
		size   int64
		sha    string
		max    int64
		code   vise.Code
		substr string
	}{
		{name: "ok", body: strings.NewReader(data), size: int64(len(data)), sha: digest(data)},
		{name: "unknown size and digest", body: strings.NewReader(data), size: -1},
		{name: "truncated", body: strings.NewReader(data[:5]), size: int64(len(data)), code: vise.CodeInvalid, substr: "truncated: got 5 of 18"},
		{name: "longer than announced", body: strings.NewReader(data), size: 3, code: vise.CodeInvalid, substr: "longer than announced"},
		{name: "wrong digest", body: strings.NewReader(data), size: -1, sha: digest("other"), code: vise.CodeInvalid, substr: "upload corrupted"},
		{name: "too large announced", body: strings.NewReader(data), size: 100, max: 10, code: vise.CodeTooLarge, substr: "over the limit"},
		{name: "too large streamed", body: strings.NewReader(data), size: -1, max: 10, code: vise.CodeTooLarge, substr: "over the limit"},
		{name: "connection cut", body: iotest.ErrReader(io.ErrUnexpectedEOF), size: 10, code: vise.CodeInvalid, substr: "connection ended early"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := open(t, tt.max)
			a, err := s.Put(ctx, tt.body, tt.size, tt.sha)
			err = blobs.ReadError(err)
			if tt.code != "" {
				if vise.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.substr) {
					t.Fatalf("err = %v, want %s containing %q", err, tt.code, tt.substr)
				}
				if got := stored(t, dir); len(got) != 0 {
					t.Errorf("a failed upload left blobs: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.SHA256 != digest(data) || a.Size != int64(len(data)) {
				t.Errorf("artifact = %+v", a)
			}
			if got := stored(t, dir); len(got) != 1 || filepath.Base(got[0]) != digest(data) {
				t.Errorf("stored = %v, want one blob named by its digest", got)
			}
		})
	}
}

func TestPutTwiceAndRead(t *testing.T) {
	s, dir := open(t, 0)
	const data = "0123456789"
	for range 2 {
		if _, err := s.Put(ctx, strings.NewReader(data), -1, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := stored(t, dir); len(got) != 1 {
		t.Errorf("stored %d blobs for the same content, want 1", len(got))
	}
	r, err := s.Open(ctx, digest(data), 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "3456" {
		t.Errorf("range read = %q, want 3456", b)
	}
	_, err = s.Open(ctx, digest("missing"), 0, -1)
	if vise.ErrorCode(err) != vise.CodeNotFound {
		t.Errorf("open missing: %v", err)
	}
	if ok, err := s.Exists(ctx, digest(data)); !ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
}

func TestReadErrorPassesOthers(t *testing.T) {
	other := errors.New("disk full")
	if got := blobs.ReadError(other); got != other {
		t.Errorf("ReadError changed an unrelated error: %v", got)
	}
}
