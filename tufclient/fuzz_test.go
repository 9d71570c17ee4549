package tufclient

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
)

// The canonical form is what signatures cover: it must be byte for byte
// what the signing side (go-securesystemslib's cjson, under go-tuf) makes.
func FuzzCanonicalJSON(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[true,null,"x\"y\\z"]}`, `{"signed":{"_type":"root","version":3}}`, `"é\u0000"`, `1.5`, `-0`, `{"a":{"c":1,"b":2}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ours, err := canonicalJSON(b)
		if !json.Valid(b) {
			if err == nil {
				t.Fatalf("canonicalJSON accepted invalid JSON %q", b)
			}
			return
		}
		theirs, err2 := cjson.EncodeCanonical(json.RawMessage(b))
		if (err == nil) != (err2 == nil) || !bytes.Equal(ours, theirs) {
			t.Fatalf("canonical form of %q: ours %q (%v), cjson %q (%v)", b, ours, err, theirs, err2)
		}
	})
}

// Metadata from the network never panics the parser or the signature
// check, whatever its bytes.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"signed":{"_type":"timestamp","spec_version":"1.0.31","version":1,"expires":"2030-01-01T00:00:00Z","meta":{"snapshot.json":{"version":1}}},"signatures":[{"keyid":"k","sig":"00"}]}`))
	f.Add([]byte(`{"signed":{"_type":"root","spec_version":"1.0","version":1,"keys":{"k":{"keytype":"ed25519","scheme":"ed25519","keyval":{"public":"00"}}},"roles":{"root":{"keyids":["k"],"threshold":1}}},"signatures":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &rootMeta{}
		if s, err := parse(b, roleRoot, r); err == nil {
			r.verify(roleRoot, s)
			r.verify(roleTimestamp, s)
		}
		m := &filesMeta{}
		if s, err := parse(b, roleTimestamp, m); err == nil {
			(&rootMeta{}).verify(roleTimestamp, s)
		}
	})
}
