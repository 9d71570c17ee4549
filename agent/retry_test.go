package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/tufclient"
)

// A deployment is applied again after the network or a restarting server
// failed it, never after content failed verification or a step failed.
func TestTransient(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://vise/v1/release/timestamp.json", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{vise.Errorf(vise.CodeInvalid, "release metadata did not verify: %w", refused), true},
		{fmt.Errorf("download artifact 0123: %w", io.ErrUnexpectedEOF), true},
		{vise.Errorf(vise.CodeInvalid, "x failed verification: %w", &tufclient.HTTPError{StatusCode: 503}), true},
		{vise.Errorf(vise.CodeUnavailable, "get deployment: server answered 503"), true},
		{vise.Errorf(vise.CodeInvalid, "x failed verification: %w", &tufclient.HTTPError{StatusCode: 404}), false},
		{vise.Errorf(vise.CodeInvalid, "artifact 0123 failed verification: got 3 bytes"), false},
		{vise.Errorf(vise.CodeInternal, "rolled back to generation 2: %w", vise.Errorf(vise.CodeInternal, "health: %w", context.DeadlineExceeded)), false},
		{vise.Errorf(vise.CodeInternal, "vise.agent@2.0.0: the new agent did not report: %w", context.DeadlineExceeded), false},
		{errors.New("install step failed"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
