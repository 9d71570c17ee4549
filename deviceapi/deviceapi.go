// Package deviceapi is the whole contract between a device and the Vise
// server: MQTT topics, enrollment, the deployment document, the status a
// device reports, the inference result and verdict it forwards, the bounds
// each message is held to and the error body of the device API. Every side
// that speaks to or for a device (agent, server, dashboard, CLI, simulator,
// vise-infer) encodes and decodes through these types, so a message has one
// shape. It imports the standard library only, so that the agent's
// dependency set stays small (see deps_test.go in package agent).
//
// Compatibility: a message carries a schema version. A reader takes what it
// understands from a message with fields it does not know, or from a newer
// schema, and says so in Info so the caller can count it; it never refuses
// a message for being newer.
package deviceapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// Schema versions of the messages a device sends. A reader accepts a
// higher version, keeping the fields it knows.
const (
	ResultSchema  = 1
	VerdictSchema = 1
	StatusSchema  = 1
)

// Info says what a Decode found beyond the fields it knows.
type Info struct {
	// Unknown is the first field the type does not have (empty: none):
	// a newer sender's addition, ignored.
	Unknown string
	// Newer is true when the message's schema is above the version this
	// build understands.
	Newer bool
}

// Decode decodes a JSON message into v, ignoring fields v does not have
// and reporting the first of them. The common message (all fields known)
// costs one pass; one with unknown fields costs two.
func Decode(data []byte, v any) (Info, error) {
	d := decoders.Get().(*decoder)
	d.src.Reset(data)
	from := d.dec.InputOffset()
	err := d.dec.Decode(v)
	if err == nil && d.dec.InputOffset()-from == int64(len(data)) && len(data) <= maxPooledMessage {
		// Nothing of this message is left in the decoder's buffer, so the
		// next message starts clean.
		decoders.Put(d)
	}
	if err == nil {
		return Info{}, nil
	}
	const prefix = "json: unknown field "
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return Info{}, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Info{}, err
	}
	return Info{Unknown: strings.Trim(msg[len(prefix):], `"`)}, nil
}

// decoders keeps Decoders (their buffers and scanners) from one message to
// the next: a new one per message cost a third of the decoding of a
// result (BenchmarkDecode). A Decoder goes back only after a message it
// read whole and without error; one that failed or saw trailing bytes is
// dropped.
var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = json.NewDecoder(&d.src)
	d.dec.DisallowUnknownFields()
	return d
}}

// maxPooledMessage: a Decoder that read a larger message is dropped rather
// than kept with its buffer.
const maxPooledMessage = 64 << 10

type decoder struct {
	src bytes.Reader
	dec *json.Decoder
}
