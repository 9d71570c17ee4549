package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // result images
	_ "image/png"
	"io"
	"io/fs"
	"syscall"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/broker"
	"github.com/vise-edge/vise/deviceapi"
)

// ParsedResult is a result that passed every rule at the door.
type ParsedResult struct {
	// Compat says what in the message this server did not understand.
	Compat     deviceapi.Info
	MsgID      string
	Defects    int
	Model      string          // the model's sha256; empty for an unreadable image
	TopConf    *float64        // the highest detection confidence, nil without one
	ImageData  []byte          // the attached image, if any, still to be stored
	fields     json.RawMessage // the message without image_data, compact
	imageField json.RawMessage // its "image" object, for image.stored
}

// ParseResult checks a result published by device: size, UTF-8, JSON,
// depth, msg_id, the device it names and its detection count. The error
// is a *Refusal naming the rule.
func ParseResult(device string, payload []byte) (*ParsedResult, error) {
	sh, err := checkShape(payload, MaxResultBytes)
	if err != nil {
		return nil, err
	}
	if !mayHoldImage(payload) {
		return parsePlain(device, payload, sh)
	}
	if !json.Valid(payload) {
		return nil, refuse("json", "not well-formed JSON")
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(payload, &msg); err != nil || msg == nil {
		return nil, refuse("json", "a result is a JSON object")
	}
	attached, hasImage := msg["image_data"]
	delete(msg, "image_data")
	fields := marshal(msg) // raw values come out compact
	p, err := checkResult(device, fields)
	if err != nil {
		return nil, err
	}
	p.imageField = msg["image"]
	if hasImage {
		p.ImageData = []byte{} // not base64: refused as an image, not with the result
		json.Unmarshal(attached, &p.ImageData)
	}
	return p, nil
}

// mayHoldImage tells whether a message may have an image_data key: it
// cannot unless the name is written out, or hidden behind \u escapes.
func mayHoldImage(payload []byte) bool {
	return bytes.Contains(payload, []byte(`"image_data"`)) || bytes.Contains(payload, []byte(`\u`))
}

// parsePlain parses a result without an image, the common case: its stored
// form is the message made compact, and one that is compact already (what
// devices send) is decoded as it came, with no pass over it but the
// decoder's own, which also checks it is well-formed.
func parsePlain(device string, payload []byte, sh shape) (*ParsedResult, error) {
	if i := bytes.IndexFunc(payload, func(r rune) bool { return r != ' ' && r != '\t' && r != '\n' && r != '\r' }); i < 0 || payload[i] != '{' {
		return nil, refuse("json", "a result is a JSON object")
	}
	fields := payload
	if sh.spaced {
		var buf bytes.Buffer
		if err := json.Compact(&buf, payload); err != nil {
			return nil, refuse("json", "not well-formed JSON")
		}
		fields = buf.Bytes()
	} else if sh.end != len(payload) { // something after the object
		return nil, refuse("json", "not well-formed JSON")
	}
	return checkResult(device, fields)
}

// checkResult decodes a result's fields, as they will be stored, into the
// result schema and holds them to the rules.
func checkResult(device string, fields []byte) (*ParsedResult, error) {
	var r deviceapi.Result
	info, err := deviceapi.Decode(fields, &r)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, refuse("json", "not well-formed JSON")
	}
	if err != nil {
		return nil, refuse("json", "a field has the wrong type: %v", err)
	}
	info.Newer = r.Schema > deviceapi.ResultSchema
	if err := checkMsgID(r.MsgID); err != nil {
		return nil, err
	}
	if r.Device != "" && r.Device != device {
		return nil, refuse("device", "names device %q but came from %q", r.Device, device)
	}
	if len(r.Detections) > MaxDetections {
		return nil, refuse("detections", "%d detections, more than %d", len(r.Detections), MaxDetections)
	}
	p := &ParsedResult{Compat: info, MsgID: r.MsgID, Defects: len(r.Detections), fields: fields, TopConf: topConfidence(r.Detections)}
	if r.Error == "" {
		p.Model = r.Model.SHA256
	}
	return p, nil
}

// topConfidence is the highest confidence of the detections; a detection
// without one (0, or not a number) does not count.
func topConfidence(ds []deviceapi.Detection) *float64 {
	var top *float64
	for _, d := range ds {
		if c := d.Confidence; c > 0 && c <= 1 && (top == nil || c > *top) {
			top = &c
		}
	}
	return top
}

// withImage records in the stored message where its image went: stored
// (its sha256 in the blob store) or not_stored (why not).
func (p *ParsedResult) withImage(key, value string) {
	img := map[string]json.RawMessage{}
	json.Unmarshal(p.imageField, &img) // not an object: start afresh
	if img == nil {
		img = map[string]json.RawMessage{}
	}
	img[key] = marshal(value)
	var msg map[string]json.RawMessage
	json.Unmarshal(p.fields, &msg)
	msg["image"] = marshal(img)
	p.fields = marshal(msg)
}

// checkImage refuses an attachment that is not a JPEG or PNG image.
func checkImage(data []byte) error {
	if len(data) == 0 {
		return errors.New("image_data is empty or not base64")
	}
	if _, format, err := image.DecodeConfig(bytes.NewReader(data)); err != nil || (format != "jpeg" && format != "png") {
		return errors.New("image_data is not a JPEG or PNG image")
	}
	return nil
}

// lostForGood tells a blob store failure that sending again cannot cure
// for this image (a read-only or forbidden directory) from an outage.
func lostForGood(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// Result stores a device's inference result once, its image first. The
// device in the topic is the sender's own (the broker's ACL guarantees
// it). A nil error means the message may be acknowledged: stored, a
// duplicate, or refused for good. An error means nothing was stored and
// the device must keep the message and send it again.
func (in *Ingester) Result(topic string, payload []byte) error {
	r, err := in.prepare(topic, payload)
	if err != nil || r == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	inserted, err := in.insert(ctx, *r)
	return in.outcome(r, answer{inserted: inserted, err: err})
}

// ResultAsync is Result for a broker that acknowledges later (the
// broker's Subscription.Async): it checks the result on the caller's
// goroutine, hands it to the writer and returns; done gets what Result
// would have returned, from the writer once the batch is committed, or
// at once for a result refused or not taken. done must not block.
func (in *Ingester) ResultAsync(topic string, payload []byte, done func(error)) {
	r, err := in.prepare(topic, payload)
	if err != nil || r == nil {
		done(err)
		return
	}
	p := &pending{r: *r, done: func(a answer) { done(in.outcome(r, a)) }}
	if err := in.enqueue(in.ctx, p); err != nil {
		done(in.outcome(r, answer{err: err}))
	}
}

// prepare holds a result to the rules and stores its image: it returns
// the row to insert, or nil and what to answer without one.
func (in *Ingester) prepare(topic string, payload []byte) (*vise.Result, error) {
	device, component, ok := ResultTopic(topic)
	if !ok {
		in.refused("result", "topic", "device", device, "topic", topic)
		return nil, nil
	}
	if in.rates != nil && !in.rates.allow(device) {
		in.m.results.WithLabelValues("over_quota").Inc()
		return nil, fmt.Errorf("result of %s: more than %g a second: %w", device, in.rates.rate, broker.ErrOverQuota)
	}
	p, err := ParseResult(device, payload)
	var ref *Refusal
	if errors.As(err, &ref) {
		in.refused("result", ref.Rule, "device", device, "component", component, "bytes", len(payload), "why", ref.Detail)
		return nil, nil
	}
	in.compat.note(in, "result", device, p.Compat)
	if p.ImageData != nil {
		ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
		defer cancel()
		if err := in.storeImage(ctx, device, p); err != nil {
			return nil, err
		}
	}
	return &vise.Result{MsgID: p.MsgID, Device: device, Component: component, Defects: p.Defects, Payload: p.fields,
		ModelSHA256: p.Model, TopConfidence: p.TopConf}, nil
}

// outcome counts what became of a result handed to the writer and says
// whether it may be acknowledged.
func (in *Ingester) outcome(r *vise.Result, a answer) error {
	switch {
	case a.err != nil:
		in.m.results.WithLabelValues("unavailable").Inc()
		in.log.Warn("result not stored; the device keeps it and sends it again", "device", r.Device, "msg_id", r.MsgID, "err", a.err)
		return fmt.Errorf("store result %s of %s: %w", r.MsgID, r.Device, a.err)
	case a.inserted:
		in.m.results.WithLabelValues("stored").Inc()
	default:
		in.m.results.WithLabelValues("duplicate").Inc()
	}
	return nil
}

// storeImage moves an attached image into the blob store. An image that
// cannot be stored for good is left out, the result marked so; a blob
// store outage is an error, so the whole message comes again.
func (in *Ingester) storeImage(ctx context.Context, device string, p *ParsedResult) error {
	if p.ImageData == nil {
		return nil
	}
	notStored := func(outcome, why string) {
		in.m.images.WithLabelValues(outcome).Inc()
		p.withImage("not_stored", why)
	}
	if err := checkImage(p.ImageData); err != nil {
		in.log.Warn("result image left out", "device", device, "msg_id", p.MsgID, "why", err)
		notStored("not_an_image", err.Error())
		return nil
	}
	a, err := in.blobs.Put(ctx, bytes.NewReader(p.ImageData), int64(len(p.ImageData)), "")
	switch {
	case err == nil:
		p.withImage("stored", a.SHA256)
		in.m.images.WithLabelValues("stored").Inc()
		return nil
	case lostForGood(err):
		in.log.Error("result image cannot be stored; the result is stored without it", "device", device, "msg_id", p.MsgID, "err", err)
		notStored("blob_store_refused", "the blob store refused it")
		return nil
	}
	in.m.results.WithLabelValues("unavailable").Inc()
	in.log.Warn("result image not stored; the device keeps the result and sends it again", "device", device, "msg_id", p.MsgID, "err", err)
	return fmt.Errorf("store image of %s %s: %w", device, p.MsgID, err)
}
