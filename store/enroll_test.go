package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// An enrollment token enrolls one device, once: a second enrollment with
// it, under another name, is refused and leaves no device behind.
func TestEnrollmentTokenOneTime(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		if err := s.CreateEnrollmentToken(ctx, "tok-1", "", time.Now().Add(time.Hour), "admin"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckEnrollmentToken(ctx, "tok-1"); err != nil {
			t.Fatalf("fresh token: %v", err)
		}
		if d, err := s.Enroll(ctx, "tok-1", "cam-1", "serial-1"); err != nil || d.Name != "cam-1" {
			t.Fatalf("first enrollment: %+v, %v", d, err)
		}
		err := s.CheckEnrollmentToken(ctx, "tok-1")
		wantCode(t, err, vise.CodeUnauthorized)
		_, err = s.Enroll(ctx, "tok-1", "cam-2", "serial-2")
		wantCode(t, err, vise.CodeUnauthorized)
		if !strings.Contains(err.Error(), "already used") {
			t.Errorf("second enrollment: %v; want it to say the token was already used", err)
		}
		_, err = s.GetDevice(ctx, "cam-2")
		wantCode(t, err, vise.CodeNotFound)
		// Nor can the token re-enroll its own device (after a revocation,
		// with a new certificate).
		if err := s.RevokeDevice(ctx, "cam-1"); err != nil {
			t.Fatal(err)
		}
		_, err = s.Enroll(ctx, "tok-1", "cam-1", "serial-3")
		wantCode(t, err, vise.CodeUnauthorized)
		if serial, revoked, err := s.DeviceCertificate(ctx, "cam-1"); err != nil || serial != "serial-1" || !revoked {
			t.Errorf("cam-1 certificate = %s revoked=%v (%v); want serial-1, still revoked", serial, revoked, err)
		}
	})
}

// Enrollments racing on one token: exactly one wins, the others are
// refused, and only the winner's device exists.
func TestEnrollmentTokenRace(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		if err := s.CreateEnrollmentToken(ctx, "tok-race", "", time.Now().Add(time.Hour), "admin"); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, errs[i] = s.Enroll(ctx, "tok-race", fmt.Sprintf("cam-%d", i), fmt.Sprintf("serial-%d", i))
			})
		}
		close(start)
		wg.Wait()
		var won []string
		for i, err := range errs {
			switch vise.ErrorCode(err) {
			case "":
				won = append(won, fmt.Sprintf("cam-%d", i))
			case vise.CodeUnauthorized, vise.CodeConflict, vise.CodeUnavailable:
			default:
				t.Errorf("cam-%d: unexpected error %v", i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d enrollments with one token succeeded (%v); want exactly 1", len(won), won)
		}
		devices, err := s.ListDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range devices {
			names = append(names, d.Name)
		}
		if len(names) != 1 || names[0] != won[0] {
			t.Errorf("devices %v; want only the winner %s", names, won[0])
		}
	})
}
