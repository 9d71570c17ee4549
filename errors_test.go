package vise_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vise-edge/vise"
)

// NotNow tells "come back later" from "no": a cause deep in the chain
// counts, a refusal or a plain failure does not.
func TestNotNow(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{vise.Errorf(vise.CodeUnavailable, "the database is locked"), true},
		{fmt.Errorf("get device certificate: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("insert: %w", context.Canceled), true},
		{fmt.Errorf("store: %w", vise.Errorf(vise.CodeUnavailable, "away")), true},
		{vise.Errorf(vise.CodeForbidden, "device cam-1 is revoked"), false},
		{vise.Errorf(vise.CodeNotFound, "device cam-1 not found"), false},
		{errors.New("disk I/O error"), false},
		{nil, false},
	} {
		if got := vise.NotNow(tc.err); got != tc.want {
			t.Errorf("NotNow(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
