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

// A failing install or health step is a runtime failure on the device: not
// bad input, and not a network fault worth applying the deployment again
// for (transient). It keeps the script's exit status as its cause.
func TestRunStepFailureWrapsCause(t *testing.T) {
	err := runStep(context.Background(), "echo broken >&2; exit 3", t.TempDir(), nil, time.Minute, slog.New(slog.DiscardHandler))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("got %v; want the *exec.ExitError with status 3 in its chain", err)
	}
	if got := vise.ErrorCode(err); got != vise.CodeInternal {
		t.Errorf("code %q, want %q", got, vise.CodeInternal)
	}
	if transient(err) {
		t.Error("a failed step is taken for a network fault and would be applied again")
	}
}
