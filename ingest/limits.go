package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/vise-edge/vise/deviceapi"
)

// The bounds every device message is held to at the door. They bound what
// one message can make the server store, and so what any later response
// built from stored messages can grow to.
const (
	MaxResultBytes = deviceapi.MaxResultBytes
	MaxStatusBytes = deviceapi.MaxStatusBytes
	MaxDepth       = deviceapi.MaxDepth
	MaxMsgID       = deviceapi.MaxMsgID
	MaxDetections  = deviceapi.MaxDetections
)

// Refusal is a message broken beyond use: acknowledging it and counting it
// is all the server can do, since sending it again cannot help. Rule names
// the broken rule; it is the reason label of the refusal metrics.
type Refusal struct {
	Rule   string
	Detail string
}

func (r *Refusal) Error() string { return r.Rule + ": " + r.Detail }

func refuse(rule, format string, args ...any) *Refusal {
	return &Refusal{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// checkJSON holds raw bytes to the rules that come before decoding: size,
// valid UTF-8, well-formed JSON, nesting depth.
func checkJSON(payload []byte, maxBytes int) error {
	if len(payload) > maxBytes {
		return refuse("too_large", "%d bytes, more than the %d allowed", len(payload), maxBytes)
	}
	if !utf8.Valid(payload) {
		return refuse("utf8", "not valid UTF-8")
	}
	if d := depth(payload); d > MaxDepth {
		return refuse("depth", "nested %d deep, more than %d", d, MaxDepth)
	}
	if !json.Valid(payload) {
		return refuse("json", "not well-formed JSON")
	}
	return nil
}

// depth is the deepest nesting of arrays and objects in JSON, counted on
// the bytes before parsing, so a deep message costs no more than a flat one.
func depth(b []byte) int { return shapeOf(b).depth }

// shape is what one pass over a message's bytes tells before decoding.
type shape struct {
	depth  int  // deepest nesting of arrays and objects
	spaced bool // whitespace outside strings: not compact
	end    int  // offset just past the first value that closes at depth 0; -1: none did
}

func shapeOf(b []byte) shape {
	s := shape{end: -1}
	d, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case inString && escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			d++
			s.depth = max(s.depth, d)
		case c == ']' || c == '}':
			d--
			if d == 0 && s.end < 0 {
				s.end = i + 1
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s.spaced = true
		}
	}
	return s
}

// checkShape is checkJSON without the well-formedness check, left to the
// decoder that follows: one pass fewer over every result.
func checkShape(payload []byte, maxBytes int) (shape, error) {
	if len(payload) > maxBytes {
		return shape{}, refuse("too_large", "%d bytes, more than the %d allowed", len(payload), maxBytes)
	}
	if !utf8.Valid(payload) {
		return shape{}, refuse("utf8", "not valid UTF-8")
	}
	sh := shapeOf(payload)
	if sh.depth > MaxDepth {
		return shape{}, refuse("depth", "nested %d deep, more than %d", sh.depth, MaxDepth)
	}
	return sh, nil
}

// checkMsgID: 1 to MaxMsgID bytes of printable ASCII (space to tilde), so
// an id is safe to log, to put in a URL and to show.
func checkMsgID(id string) error {
	if id == "" || len(id) > MaxMsgID {
		return refuse("msg_id", "msg_id must be 1 to %d bytes, is %d", MaxMsgID, len(id))
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return refuse("msg_id", "msg_id holds byte 0x%02x at offset %d; only printable ASCII is allowed", id[i], i)
		}
	}
	return nil
}

// marshal encodes without HTML escaping, which would grow every &, < and >
// of a device's message sixfold.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // maps of raw messages and strings: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// compact is the stored form of a checked message: no insignificant
// whitespace, so what the server stores is at most what it received.
func compact(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b // checkJSON ran first; cannot happen
	}
	return buf.Bytes()
}
