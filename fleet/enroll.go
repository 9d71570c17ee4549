package fleet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"github.com/vise-edge/vise/deviceapi"
	"strings"
	"time"

	"github.com/vise-edge/vise"
)

// DeviceCertValidity is how long a device certificate lasts.
const DeviceCertValidity = 2 * 365 * 24 * time.Hour

// CreateEnrollmentToken makes a one-time token, valid for ttl, that
// enrolls one device (into group, if given). The token carries the CA's
// fingerprint so the device can check the server before trusting it.
func (f *Fleet) CreateEnrollmentToken(ctx context.Context, group string, ttl time.Duration, by string) (string, time.Time, error) {
	if group != "" {
		if err := vise.ValidateName("group", group); err != nil {
			return "", time.Time{}, err
		}
	}
	if ttl <= 0 || ttl > 30*24*time.Hour {
		return "", time.Time{}, vise.Errorf(vise.CodeInvalid, "token lifetime %s: use between 1s and 720h", ttl)
	}
	secret := strings.ToLower(rand.Text())
	expires := time.Now().Add(ttl).UTC()
	if err := f.store.CreateEnrollmentToken(ctx, hashSecret(secret), group, expires, by); err != nil {
		return "", time.Time{}, err
	}
	f.log.Info("enrollment token created", "group", group, "expires", expires, "by", by)
	return deviceapi.JoinToken(secret, f.ca.Fingerprint()[:deviceapi.TokenPinLen]), expires, nil
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// SplitToken separates an enrollment token into its secret and the CA
// fingerprint prefix it pins.
func SplitToken(token string) (secret, caPin string, err error) {
	secret, caPin, err = deviceapi.SplitToken(token)
	if err != nil {
		return "", "", vise.Errorf(vise.CodeInvalid, "%w", err)
	}
	return secret, caPin, nil
}

// Enroll checks the token, signs the device's CSR and records the device.
func (f *Fleet) Enroll(ctx context.Context, token, device string, csrPEM []byte) (certPEM []byte, err error) {
	if err := vise.ValidateName("device", device); err != nil {
		return nil, err
	}
	secret, _, err := SplitToken(token)
	if err != nil {
		return nil, err
	}
	hash := hashSecret(secret)
	if err := f.store.CheckEnrollmentToken(ctx, hash); err != nil {
		return nil, err
	}
	cert, serial, err := f.ca.SignDevice(csrPEM, device, DeviceCertValidity)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "cannot sign the device's certificate request: %w", err)
	}
	if _, err := f.store.Enroll(ctx, hash, device, serial); err != nil {
		return nil, err
	}
	f.log.Info("device enrolled", "device", device, "serial", serial)
	return cert, nil
}

// Revoke revokes a device's certificate and cuts it off at once.
func (f *Fleet) Revoke(ctx context.Context, device string) (*vise.Revocation, error) {
	if err := f.store.RevokeDevice(ctx, device); err != nil {
		return nil, err
	}
	f.log.Warn("device revoked", "device", device)
	var crl *vise.CRLUpdate
	if f.onRevoke != nil {
		crl = f.onRevoke(ctx, device)
	}
	d, err := f.store.GetDevice(ctx, device)
	if err != nil {
		return nil, err
	}
	return &vise.Revocation{Device: *d, CRL: crl}, nil
}

// Authorize tells whether a device presenting a certificate with serial may
// connect: it must be the device's current certificate, not revoked.
func (f *Fleet) Authorize(ctx context.Context, device, serial string) error {
	current, revoked, err := f.store.DeviceCertificate(ctx, device)
	switch {
	case err != nil:
		return err
	case revoked:
		return vise.Errorf(vise.CodeForbidden, "device %s is revoked", device)
	case current != serial:
		return vise.Errorf(vise.CodeForbidden, "certificate %s is not device %s's current certificate", serial, device)
	}
	return nil
}
