package agent

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/vise-edge/vise/deviceapi"
)

// shedOrder is what a full outbox gives up, step by step, oldest first
// within a step: images before messages (a result without its image still
// counts), samples before uncertain frames before defects.
var shedOrder = [...]struct {
	class byte
	strip bool // give up the image only
}{
	{classSample, true}, {classUncertain, true}, {classOther, true}, {classDefect, true},
	{classSample, false}, {classUncertain, false}, {classOther, false}, {classDefect, false},
}

// shed frees at least need bytes, from the pending messages only
// (memOnly: the memory cap) or from all of them (the disk cap). Called
// with mu held.
func (o *outbox) shed(need int64, memOnly bool) {
	for step, s := range shedOrder {
		list := o.pending
		if !memOnly {
			from := o.shedFrom[step]
			list = o.entries[sort.Search(len(o.entries), func(i int) bool { return o.entries[i].seq >= from }):]
		}
		for _, e := range list {
			if need <= 0 {
				return
			}
			if !memOnly {
				o.shedFrom[step] = e.seq // nothing before it is left for this step
			}
			if e.gone || e.class&^classImage != s.class || (s.strip && e.class&classImage == 0) {
				continue
			}
			if s.strip {
				need -= o.stripImage(e)
			} else {
				need -= o.drop(e)
			}
		}
	}
}

// stripImage keeps a result without its image, and says how many bytes
// that freed. A payload that cannot be read back is dropped instead.
func (o *outbox) stripImage(e *entry) int64 {
	payload, err := o.payload(e)
	var r deviceapi.Result
	if err == nil {
		err = json.Unmarshal(payload, &r)
	}
	if err != nil {
		return o.drop(e)
	}
	r.ImageData, r.ImageDropped = nil, deviceapi.ImageDroppedDiskCap
	b, _ := json.Marshal(r)
	freed := e.n - recordSize(e.topic, b)
	if e.off >= 0 { // written: retired, and the smaller copy written anew after the ack
		o.retire(e)
		e.off = -1
		o.pending = append(o.pending, e)
	} else {
		o.mem -= e.n
	}
	e.payload, e.n = b, recordSize(e.topic, b)
	o.mem += e.n
	e.class &^= classImage
	o.st.ImagesDropped++
	return freed
}

// drop gives a message up, counted.
func (o *outbox) drop(e *entry) int64 {
	o.remove(e)
	o.st.QueueDropped++
	return e.n
}

// remove takes a message out of the queue: acknowledged or dropped.
func (o *outbox) remove(e *entry) {
	e.gone = true
	delete(o.bySeq, e.seq)
	if e.off >= 0 {
		o.retire(e)
	} else {
		o.mem -= e.n
		e.payload = nil
	}
	o.gone++
	for len(o.entries) > 0 && o.entries[0].gone {
		o.entries = o.entries[1:]
		o.gone--
	}
	if o.gone > 1024 && o.gone > len(o.entries)/2 {
		kept := make([]*entry, 0, len(o.entries)-o.gone)
		for _, e := range o.entries {
			if !e.gone {
				kept = append(kept, e)
			}
		}
		o.entries, o.gone = kept, 0
	}
}

// expire drops messages older than the age cap. Called with mu held.
func (o *outbox) expire() {
	cutoff := o.opts.now().Add(-o.opts.MaxAge).UnixMilli()
	for len(o.entries) > 0 && o.entries[0].created < cutoff {
		o.drop(o.entries[0])
	}
}

// payload is a message's bytes, from memory or from its record.
func (o *outbox) payload(e *entry) ([]byte, error) {
	if e.off < 0 {
		return e.payload, nil
	}
	rec := make([]byte, e.n)
	if _, err := o.f.ReadAt(rec, e.off); err != nil {
		return nil, err
	}
	return payloadOf(rec)
}

type outMsg struct {
	seq     uint64
	topic   string
	payload []byte
}

// peek returns up to n waiting messages, oldest first. A record that can
// no longer be read is dropped, counted.
func (o *outbox) peek(n int) []outMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []outMsg
	var bad []*entry
	for _, e := range o.entries {
		if len(out) == n {
			break
		}
		if e.gone {
			continue
		}
		p, err := o.payload(e)
		if err != nil {
			o.log.Error("outbox: a queued message cannot be read back; it is dropped", "err", err)
			bad = append(bad, e)
			continue
		}
		out = append(out, outMsg{seq: e.seq, topic: e.topic, payload: p})
	}
	for _, e := range bad {
		o.drop(e)
	}
	return out
}

// ack removes a message the server has acknowledged.
func (o *outbox) ack(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.bySeq[seq]; e != nil {
		o.remove(e)
	}
}

// forward sends queued messages in order until ctx ends, waiting for each
// acknowledgement; while the link is down it retries every second. The
// server stores a message once by its msg_id, so one sent again after a
// crash (its ack not yet written) is not stored twice.
func (o *outbox) forward(ctx context.Context, send func(ctx context.Context, topic string, payload []byte) error) {
	for ctx.Err() == nil {
		msgs := o.peek(64)
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
			case <-o.notify:
			case <-time.After(5 * time.Second):
			}
			continue
		}
		var err error
		for _, m := range msgs {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = send(sctx, m.topic, m.payload)
			cancel()
			if err != nil {
				break
			}
			o.ack(m.seq)
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}
