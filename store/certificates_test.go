package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// enroll gives device a certificate serial through a fresh token.
func enroll(t *testing.T, s *store.Store, now time.Time, device, serial string) {
	t.Helper()
	hash := "token-" + device + "-" + serial
	if err := s.CreateEnrollmentToken(ctx, hash, "", now.Add(time.Hour), "admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, hash, device, serial); err != nil {
		t.Fatal(err)
	}
}

// Every revoked certificate stays listed, with when it was revoked, after
// its device enrolls again with a new one: the CRL an external broker
// checks is made from this list.
func TestRevocations(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			s := openStore(t, engine, store.Options{Now: func() time.Time { return now }})
			if got, err := s.RevokedCertificates(ctx); err != nil || len(got) != 0 {
				t.Fatalf("fresh store: revoked %v, %v; want none", got, err)
			}
			enroll(t, s, now, "cam-1", "a1")
			enroll(t, s, now, "cam-2", "b1")
			if _, err := s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "never-enrolled"}); err != nil {
				t.Fatal(err)
			}

			first := now
			if err := s.RevokeDevice(ctx, "cam-1"); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Minute)
			if err := s.RevokeDevice(ctx, "cam-1"); err != nil { // again: keeps the first time
				t.Fatal(err)
			}
			enroll(t, s, now, "cam-1", "a2") // replaces cam-1's serial
			now = now.Add(time.Minute)
			second := now
			if err := s.RevokeDevice(ctx, "cam-1"); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeDevice(ctx, "never-enrolled"); err != nil {
				t.Fatal(err)
			}
			wantCode(t, s.RevokeDevice(ctx, "ghost"), vise.CodeNotFound)

			got, err := s.RevokedCertificates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []store.RevokedCertificate{{Serial: "a1", Device: "cam-1", RevokedAt: first}, {Serial: "a2", Device: "cam-1", RevokedAt: second}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("revoked certificates (-want +got):\n%s", diff)
			}
			if serial, revoked, _ := s.DeviceCertificate(ctx, "cam-2"); serial != "b1" || revoked {
				t.Errorf("cam-2: serial %q revoked %v; another device's revocation touched it", serial, revoked)
			}
		})
	}
}
