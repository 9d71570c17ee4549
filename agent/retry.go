package agent

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/tufclient"
)

// applyRetrying applies a deployment, and applies it again after an error
// the network or an unavailable server caused, until the device's
// deadline: a server restarted or a link cut mid-rollout is no reason to
// fail a device (the fault rehearsal found 912 of 1,000 devices failed by
// one server kill -9). Waits double from 1 s to 30 s, jittered, so a fleet
// that lost its server does not come back in step.
func (a *Agent) applyRetrying(ctx context.Context, id string, timeout time.Duration) error {
	wait := time.Second
	for {
		err := a.apply(ctx, id, timeout)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		d := wait/2 + rand.N(wait/2+1)
		a.log.Warn("deployment interrupted by the network; applying it again", "deployment", id, "in", d, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// transient tells an error worth trying again (the network, a server
// that is down or restarting) from one that will not go away (content
// that fails verification, a failed install or health check).
func transient(err error) bool {
	var ve *vise.Error
	var ne net.Error
	var he *tufclient.HTTPError
	switch {
	case errors.As(err, &ve) && ve.Code == vise.CodeInternal:
		// The device's own failure (a step, a health check, a rollback,
		// a self-update candidate), even if a timeout is its cause.
		return false
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return true
	case errors.As(err, &he):
		return he.StatusCode >= 500
	}
	return vise.ErrorCode(err) == vise.CodeUnavailable
}
