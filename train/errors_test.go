package train

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vise-edge/vise"
)

// A vise-infer that fails at run time is an internal failure, not bad
// input, and its exit status stays reachable through the chain.
func TestEvaluateRuntimeFailureWrapsCause(t *testing.T) {
	model := filepath.Join("..", "samples", "models", "metal-tags.onnx")
	dataset := t.TempDir()
	os.Mkdir(filepath.Join(dataset, "images"), 0o755)
	infer := script(t, "#!/bin/sh\necho 'vise-infer: boom' >&2\nexit 4\n")
	_, err := Evaluate(ctx, Config{Infer: infer}, model, dataset, "")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("got %v; want the *exec.ExitError with status 4 in its chain", err)
	}
	if got := vise.ErrorCode(err); got != vise.CodeInternal {
		t.Errorf("code %q, want %q", got, vise.CodeInternal)
	}
}

// A dataset without images/ keeps the OS error as its cause.
func TestCoversClassesWrapsCause(t *testing.T) {
	model := filepath.Join("..", "samples", "models", "metal-tags.onnx")
	err := CoversClasses(model, t.TempDir())
	if vise.ErrorCode(err) != vise.CodeInvalid || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v; want an invalid error with fs.ErrNotExist in its chain", err)
	}
}
