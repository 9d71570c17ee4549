package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/vise-edge/vise"
)

// CreateEnrollmentToken stores a one-time token's hash.
func (s *Store) CreateEnrollmentToken(ctx context.Context, hash, group string, expires time.Time, by string) error {
	return s.write(ctx, "create enrollment token", func(t *tx) error {
		if group != "" {
			var n int
			if err := t.queryRow(`SELECT COUNT(*) FROM device_groups WHERE name = ?`, group).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return vise.Errorf(vise.CodeNotFound, "group %s not found; create it with 'vise group create %s'", group, group)
			}
		}
		_, err := t.exec(`INSERT INTO enrollment_tokens (hash, group_name, expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
			hash, group, micros(expires), by, micros(s.clock()))
		return err
	})
}

// CheckEnrollmentToken tells whether a token may enroll now, without using it.
func (s *Store) CheckEnrollmentToken(ctx context.Context, hash string) error {
	var expires int64
	var used sql.NullInt64
	err := s.queryRow(ctx, `SELECT expires_at, used_at FROM enrollment_tokens WHERE hash = ?`, hash).Scan(&expires, &used)
	return s.tokenState(err, expires, used)
}

func (s *Store) tokenState(err error, expires int64, used sql.NullInt64) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return vise.Errorf(vise.CodeUnauthorized, "unknown enrollment token; create one with 'vise device token create'")
	case err != nil:
		return err
	case used.Valid:
		return vise.Errorf(vise.CodeUnauthorized, "enrollment token already used; tokens work once, create a new one")
	case micros(s.clock()) > expires:
		return vise.Errorf(vise.CodeUnauthorized, "enrollment token expired; create a new one")
	}
	return nil
}

// Enroll uses a token to give device its certificate serial, creating the
// device (and its group membership) if needed. A device that is enrolled
// and not revoked cannot be taken over by a second enrollment.
func (s *Store) Enroll(ctx context.Context, hash, device, serial string) (*vise.Device, error) {
	err := s.write(ctx, "enroll device", func(t *tx) error {
		var expires int64
		var used sql.NullInt64
		var group string
		err := t.queryRow(`SELECT expires_at, used_at, group_name FROM enrollment_tokens WHERE hash = ?`, hash).Scan(&expires, &used, &group)
		if err := s.tokenState(err, expires, used); err != nil {
			return err
		}
		var current string
		var revoked sql.NullInt64
		err = t.queryRow(`SELECT cert_serial, revoked_at FROM devices WHERE name = ?`, device).Scan(&current, &revoked)
		now := micros(s.clock())
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := t.exec(`INSERT INTO devices (name, labels, created_at) VALUES (?, '{}', ?)`, device, now); err != nil {
				return err
			}
		case err != nil:
			return err
		case current != "" && !revoked.Valid:
			return vise.Errorf(vise.CodeConflict, "device %s is already enrolled; revoke it first ('vise device revoke %s') to enroll it again", device, device)
		}
		if _, err := t.exec(`UPDATE devices SET cert_serial = ?, enrolled_at = ?, revoked_at = NULL WHERE name = ?`, serial, now, device); err != nil {
			return err
		}
		if group != "" {
			if err := t.addMember(group, device); err != nil {
				return err
			}
		}
		// Conditional, so that of two enrollments racing on one token only
		// one uses it: on PostgreSQL (read committed) both read it unused
		// above, and the second update, waiting on the first's row lock,
		// then finds it used.
		res, err := t.exec(`UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL`, now, device, hash)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return s.tokenState(nil, expires, sql.NullInt64{Int64: now, Valid: true}) // "already used"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetDevice(ctx, device)
}

// DeviceCertificate returns the serial of a device's current certificate
// and whether it is revoked.
func (s *Store) DeviceCertificate(ctx context.Context, device string) (serial string, revoked bool, err error) {
	var rev sql.NullInt64
	err = s.queryRow(ctx, `SELECT cert_serial, revoked_at FROM devices WHERE name = ?`, device).Scan(&serial, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, vise.Errorf(vise.CodeNotFound, "device %s not found", device)
	}
	if err != nil {
		return "", false, s.classify("get device certificate", err)
	}
	return serial, rev.Valid, nil
}

// RevokeDevice revokes a device's certificate and records its serial among
// the revoked certificates, where it stays after the device enrolls again.
func (s *Store) RevokeDevice(ctx context.Context, device string) error {
	return s.write(ctx, "revoke device", func(t *tx) error {
		var serial string
		err := t.queryRow(`SELECT cert_serial FROM devices WHERE name = ?`, device).Scan(&serial)
		if errors.Is(err, sql.ErrNoRows) {
			return vise.Errorf(vise.CodeNotFound, "device %s not found", device)
		}
		if err != nil {
			return err
		}
		now := micros(s.clock())
		if _, err := t.exec(`UPDATE devices SET revoked_at = ? WHERE name = ?`, now, device); err != nil {
			return err
		}
		if serial == "" { // never enrolled: no certificate to list
			return nil
		}
		_, err = t.exec(`INSERT INTO revoked_certificates (serial, device, revoked_at) VALUES (?, ?, ?)
			ON CONFLICT (serial) DO NOTHING`, serial, device, now)
		return err
	})
}

// RevokedCertificate is a device certificate that was revoked.
type RevokedCertificate struct {
	Serial    string // hex, as pki.Serial gives it
	Device    string
	RevokedAt time.Time
}

// RevokedCertificates lists every revoked device certificate, oldest
// revocation first.
func (s *Store) RevokedCertificates(ctx context.Context) ([]RevokedCertificate, error) {
	rows, err := s.query(ctx, `SELECT serial, device, revoked_at FROM revoked_certificates ORDER BY revoked_at, serial`)
	if err != nil {
		return nil, s.classify("list revoked certificates", err)
	}
	defer rows.Close()
	var out []RevokedCertificate
	for rows.Next() {
		var rc RevokedCertificate
		var at int64
		if err := rows.Scan(&rc.Serial, &rc.Device, &at); err != nil {
			return nil, s.classify("list revoked certificates", err)
		}
		rc.RevokedAt = fromMicros(at)
		out = append(out, rc)
	}
	if err := rows.Err(); err != nil {
		return nil, s.classify("list revoked certificates", err)
	}
	return out, nil
}

// SetDeviceStatus records a device's latest status report (JSON) and when
// it was seen.
func (s *Store) SetDeviceStatus(ctx context.Context, device string, status []byte, generation int64) error {
	return s.write(ctx, "record device status", func(t *tx) error {
		return t.setDeviceStatus(device, status, generation, micros(s.clock()))
	})
}

func (t *tx) setDeviceStatus(device string, status []byte, generation, now int64) error {
	_, err := t.exec(`UPDATE devices SET status = ?, generation = ?, last_seen_at = ? WHERE name = ?`,
		string(status), generation, now, device)
	return err
}
