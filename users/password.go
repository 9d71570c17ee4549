package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/vise-edge/vise"
)

// Params are Argon2id's cost parameters. They are written into every hash,
// so raising them later leaves existing hashes verifiable.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultParams: 64 MiB, one pass, two lanes — stronger than OWASP's
// minimum (46 MiB, t=1, p=1) and about 50-100 ms on a two-core edge box.
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32

	// MinPasswordLength is the shortest password accepted, in characters.
	MinPasswordLength = 10
	// maxPasswordBytes bounds what a request can make the server hash.
	maxPasswordBytes = 1024

	// Bounds on parameters read back from a stored hash, so a corrupted or
	// planted row cannot make a login allocate gigabytes or spin for minutes.
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 16
	maxThreads = 16
)

// CheckPassword says why a new password is unacceptable, or nil.
func CheckPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < MinPasswordLength {
		return vise.Errorf(vise.CodeInvalid, "password too short (%d characters): use at least %d", n, MinPasswordLength)
	}
	if len(pw) > maxPasswordBytes {
		return vise.Errorf(vise.CodeInvalid, "password too long (%d bytes): use at most %d", len(pw), maxPasswordBytes)
	}
	if !utf8.ValidString(pw) {
		return vise.Errorf(vise.CodeInvalid, "password is not valid UTF-8 text")
	}
	return nil
}

// HashPassword returns the PHC string of pw under Argon2id with a fresh
// random salt: $argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash> (unpadded
// base64, as the PHC format has it).
func HashPassword(pw string, p Params) string {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand panics instead)
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword tells whether pw matches the encoded hash, comparing in
// constant time. An error means the stored hash itself is unusable.
func VerifyPassword(encoded, pw string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), h.salt, h.params.Time, h.params.Memory, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

type hash struct {
	params    Params
	salt, key []byte
}

var errBadHash = errors.New("not an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")

func parseHash(s string) (hash, error) {
	var h hash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || parts[2] != fmt.Sprintf("v=%d", v) {
		return h, errBadHash
	}
	if v != argon2.Version {
		return h, fmt.Errorf("argon2 version %d, want %d", v, argon2.Version)
	}
	var m, t, p uint64
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", m, t, p) {
		return h, errBadHash
	}
	if m < 8*p || m > maxMemory || t < 1 || t > maxTime || p < 1 || p > maxThreads {
		return h, fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d out of bounds (m<=%d KiB, t<=%d, p<=%d)", m, t, p, maxMemory, maxTime, maxThreads)
	}
	h.params = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}
	var err error
	if h.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(h.salt) < 8 || len(h.salt) > 64 {
		return h, fmt.Errorf("argon2id salt: want 8-64 bytes of unpadded base64")
	}
	if h.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return h, fmt.Errorf("argon2id hash: want 16-64 bytes of unpadded base64")
	}
	return h, nil
}
