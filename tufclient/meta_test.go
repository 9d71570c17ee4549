package tufclient

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
)

// A key counts once toward a threshold, however often it is listed or
// signs, and only ed25519 keys count at all.
func TestThresholdCountsKeysOnce(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	s := &signed{canonical: []byte(`{"_type":"timestamp"}`)}
	sig := func(id string, p ed25519.PrivateKey) signature {
		return signature{KeyID: id, Sig: hex.EncodeToString(ed25519.Sign(p, s.canonical))}
	}
	k := func(typ string, p ed25519.PublicKey) key {
		var k key
		k.Type, k.Scheme, k.Val.Public = typ, typ, hex.EncodeToString(p)
		return k
	}
	for _, tc := range []struct {
		name string
		keys map[string]key
		ids  []string
		sigs []signature
		want string
	}{
		{"two keys sign", map[string]key{"a": k("ed25519", pub), "b": k("ed25519", pub2)}, []string{"a", "b"}, []signature{sig("a", priv), sig("b", priv2)}, ""},
		{"one key listed twice", map[string]key{"a": k("ed25519", pub)}, []string{"a", "a"}, []signature{sig("a", priv), sig("a", priv)}, "got 1, want 2"},
		{"a signature under another key's id", map[string]key{"a": k("ed25519", pub), "b": k("ed25519", pub2)}, []string{"a", "b"}, []signature{sig("a", priv), sig("b", priv)}, "got 1, want 2"},
		{"a key type this client does not know", map[string]key{"a": k("ed25519", pub), "b": k("ecdsa", pub2)}, []string{"a", "b"}, []signature{sig("a", priv), sig("b", priv2)}, "got 1, want 2"},
		{"a listed key the root does not hold", map[string]key{"a": k("ed25519", pub)}, []string{"a", "b"}, []signature{sig("a", priv)}, "does not hold it"},
	} {
		r := &rootMeta{Keys: tc.keys, Roles: map[string]role{roleTimestamp: {KeyIDs: tc.ids, Threshold: 2}}}
		s.sigs = tc.sigs
		err := r.verify(roleTimestamp, s)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
