package agent

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

// A failing install or health step is a runtime failure on the device, not
// bad input, and keeps the script's exit status as its cause.
func TestRunStepFailureWrapsCause(t *testing.T) {
	err := runStep(context.Background(), "echo broken >&2; exit 3", t.TempDir(), nil, time.Minute, slog.New(slog.DiscardHandler))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("got %v; want the *exec.ExitError with status 3 in its chain", err)
	}
	if got := vise.ErrorCode(err); got != vise.CodeUnavailable {
		t.Errorf("code %q, want %q", got, vise.CodeUnavailable)
	}
}
