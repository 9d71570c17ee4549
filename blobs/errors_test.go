package blobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vise-edge/vise/blobs"
)

// A blob directory that cannot be created keeps the OS error as its cause.
func TestOpenWrapsCause(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	_, err := blobs.Open(context.Background(), filepath.Join(file, "blobs"), 1<<20)
	if !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("got %v; want ENOTDIR in its chain", err)
	}
}
