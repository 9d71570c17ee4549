package tufclient

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role names and their files.
const (
	roleRoot      = "root"
	roleTimestamp = "timestamp"
	roleSnapshot  = "snapshot"
	roleTargets   = "targets"
)

// common is what every role's signed part holds.
type common struct {
	Type        string    `json:"_type"`
	SpecVersion string    `json:"spec_version"`
	Version     int64     `json:"version"`
	Expires     time.Time `json:"expires"`
}

type rootMeta struct {
	common
	Keys  map[string]key  `json:"keys"`
	Roles map[string]role `json:"roles"`
}

type key struct {
	Type   string `json:"keytype"`
	Scheme string `json:"scheme"`
	Val    struct {
		Public string `json:"public"`
	} `json:"keyval"`
}

type role struct {
	KeyIDs    []string `json:"keyids"`
	Threshold int      `json:"threshold"`
}

// metaFile is timestamp's and snapshot's entry for another metadata file;
// length and hashes are optional (TUF §4.4, §4.5).
type metaFile struct {
	Version int64             `json:"version"`
	Length  int64             `json:"length"`
	Hashes  map[string]string `json:"hashes"`
}

// filesMeta is timestamp's and snapshot's signed part.
type filesMeta struct {
	common
	Meta map[string]metaFile `json:"meta"`
}

type targetsMeta struct {
	common
	Targets map[string]targetFile `json:"targets"`
}

type targetFile struct {
	Length int64             `json:"length"`
	Hashes map[string]string `json:"hashes"`
}

// signed is one metadata file after parsing: the canonical bytes its
// signatures cover, and those signatures.
type signed struct {
	canonical []byte
	sigs      []signature
}

type signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// parse reads a metadata file of the given role into into. The typed
// fields are decoded from the canonical form of "signed" — the bytes the
// signatures are checked over — never from the raw file, so what is used
// is exactly what was verified (a duplicate key, say, cannot mean one
// thing to the signature check and another to the client).
func parse(b []byte, roleName string, into interface{ base() *common }) (*signed, error) {
	var env struct {
		Signatures []signature     `json:"signatures"`
		Signed     json.RawMessage `json:"signed"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("%s.json is not metadata: %w", roleName, err)
	}
	if len(env.Signed) == 0 {
		return nil, fmt.Errorf("%s.json has no signed part", roleName)
	}
	canon, err := canonicalJSON(env.Signed)
	if err != nil {
		return nil, fmt.Errorf("%s.json: %w", roleName, err)
	}
	if err := json.Unmarshal(canon, into); err != nil {
		return nil, fmt.Errorf("%s.json: %w", roleName, err)
	}
	c := into.base()
	if c.Type != roleName {
		return nil, fmt.Errorf("expected %s metadata, got %q", roleName, c.Type)
	}
	if major, _, _ := strings.Cut(c.SpecVersion, "."); major != "1" {
		return nil, fmt.Errorf("%s.json is for TUF specification %q; this client reads 1.x", roleName, c.SpecVersion)
	}
	if c.Version < 1 {
		return nil, fmt.Errorf("%s.json has version %d; versions start at 1", roleName, c.Version)
	}
	return &signed{canonical: canon, sigs: env.Signatures}, nil
}

func (c *common) base() *common { return c }

func (c *common) expired(now time.Time) bool { return !now.Before(c.Expires) }

func (c *common) unexpired(name string, now time.Time) error {
	if c.expired(now) {
		return fmt.Errorf("%s (version %d) is expired since %s", name, c.Version, c.Expires.Format(time.RFC3339))
	}
	return nil
}

// verify checks that the threshold of roleName's keys in r signed s
// (TUF §5.3.4 and following). Each key counts once; a key whose type this
// client does not know (only ed25519 is signed by Vise's server) never
// counts, so such a role can only fail.
func (r *rootMeta) verify(roleName string, s *signed) error {
	ro, ok := r.Roles[roleName]
	if !ok || len(ro.KeyIDs) == 0 {
		return fmt.Errorf("root %d delegates no keys to %s", r.Version, roleName)
	}
	if ro.Threshold < 1 {
		return fmt.Errorf("root %d gives %s a threshold of %d", r.Version, roleName, ro.Threshold)
	}
	valid := map[string]bool{}
	for _, id := range ro.KeyIDs {
		k, ok := r.Keys[id]
		if !ok {
			return fmt.Errorf("root %d lists key %s for %s but does not hold it", r.Version, id, roleName)
		}
		if valid[id] || !k.signedBy(id, s) {
			continue
		}
		valid[id] = true
	}
	if len(valid) < ro.Threshold {
		return fmt.Errorf("%s.json is not signed by enough %s keys: got %d, want %d", roleName, roleName, len(valid), ro.Threshold)
	}
	return nil
}

// signedBy tells whether s carries a valid signature of key id.
func (k key) signedBy(id string, s *signed) bool {
	if k.Type != "ed25519" || k.Scheme != "ed25519" {
		return false
	}
	pub, err := hex.DecodeString(k.Val.Public)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return false
	}
	for _, sg := range s.sigs {
		if sg.KeyID != id {
			continue
		}
		sig, err := hex.DecodeString(sg.Sig)
		if err == nil && ed25519.Verify(pub, s.canonical, sig) {
			return true
		}
	}
	return false
}

// checkFile verifies b against an entry's length and hashes, where given.
// sha256 and sha512 are checked; a file whose entry names only hashes this
// client cannot compute is refused rather than taken unchecked.
func checkFile(name string, b []byte, length int64, hashes map[string]string) error {
	if length > 0 && int64(len(b)) != length {
		return fmt.Errorf("%s is %d bytes, signed as %d", name, len(b), length)
	}
	checked := 0
	for alg, want := range hashes {
		var got []byte
		switch alg {
		case "sha256":
			s := sha256.Sum256(b)
			got = s[:]
		case "sha512":
			s := sha512.Sum512(b)
			got = s[:]
		default:
			continue
		}
		w, err := hex.DecodeString(want)
		if err != nil || !bytes.Equal(got, w) {
			return fmt.Errorf("%s does not match its signed %s hash", name, alg)
		}
		checked++
	}
	if len(hashes) > 0 && checked == 0 {
		return fmt.Errorf("%s is signed only with hashes this client cannot check (%s)", name, strings.Join(mapKeys(hashes), ", "))
	}
	return nil
}

func mapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// canonicalJSON re-encodes a JSON value as OLPC canonical JSON, the form
// TUF signs: object keys sorted by bytes, no insignificant space, strings
// with only `\` and `"` escaped, integers only.
func canonicalJSON(raw []byte) ([]byte, error) {
	if !json.Valid(raw) {
		return nil, errors.New("not valid JSON")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case json.Number:
		if _, err := v.Int64(); err != nil {
			return fmt.Errorf("canonical JSON has integers only, not %s", v)
		}
		buf.WriteString(v.String())
	case string:
		writeCanonicalString(buf, v)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		buf.WriteByte('{')
		for i, k := range mapKeys(v) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonicalString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	}
	return nil
}

func writeCanonicalString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			buf.WriteByte('\\')
		}
		buf.WriteByte(s[i])
	}
	buf.WriteByte('"')
}
