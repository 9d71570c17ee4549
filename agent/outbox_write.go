package agent

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/vise-edge/vise/atomicfile"
)

// flush writes the pending messages and acks in one append and, if it
// holds messages, one fsync. On failure the file is cut back to where it
// was and everything stays pending, in memory.
func (o *outbox) flush() error {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	o.expire()
	if over := o.live + o.mem - o.opts.MaxBytes; over > 0 {
		o.shed(over, false)
	}
	batch := slices.DeleteFunc(o.pending, func(e *entry) bool { return e.gone })
	o.pending = nil
	acks := o.acks
	o.acks = nil
	start := o.size
	buf := acks
	offs := make([]int64, len(batch))
	for i, e := range batch {
		offs[i] = start + int64(len(buf))
		buf = appendPut(buf, e.seq, e.created, e.class, e.topic, e.payload)
	}
	o.mu.Unlock()
	if len(buf) == 0 {
		return nil
	}
	_, err := o.f.WriteAt(buf, start)
	if err == nil && len(batch) > 0 {
		err = o.f.Sync()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.f.Truncate(start) // a partial append must not be followed by the next one
		o.st.WriteErrors++
		o.pending = append(batch, o.pending...)
		o.acks = append(acks, o.acks...)
		if !o.failing {
			o.log.Error("outbox: cannot write to disk; messages wait in memory (lost beyond the memory cap, counted as queue_dropped)",
				"path", o.path, "err", err, "memory_cap_bytes", o.opts.MaxMemory)
		}
		o.failing = true
		if over := o.mem - o.opts.MaxMemory; over > 0 {
			o.shed(over, true)
		}
		return fmt.Errorf("write outbox %s: %w", o.path, err)
	}
	if o.failing {
		o.log.Info("outbox: writing to disk again", "path", o.path)
		o.failing = false
	}
	if len(batch) > 0 {
		o.st.Fsyncs++
	}
	o.size = start + int64(len(buf))
	o.st.BytesWritten += int64(len(buf))
	o.dead += int64(len(acks))
	for i, e := range batch {
		e.off, e.payload = offs[i], nil
		o.live += e.n
		if e.gone { // acknowledged while it was being written: remove took it off mem
			o.retire(e)
			continue
		}
		o.mem -= e.n
	}
	if o.dead > max(1<<20, o.live) {
		if err := o.compact(); err != nil {
			o.log.Warn("outbox: compaction failed; the log stays as it is", "err", err)
		}
	}
	return nil
}

// retire accounts for a written record that no longer counts.
func (o *outbox) retire(e *entry) {
	o.acks = appendAck(o.acks, e.seq)
	o.live -= e.n
	o.dead += e.n
}

// recover reads the log: puts add messages, later puts of a seq replace
// earlier ones, acks remove them. It stops at the first record that is
// cut short or fails its checksum — the end of a power cut mid-append —
// and cuts the file there, so new records follow complete ones.
func (o *outbox) recover() error {
	f, err := o.opts.openFile(o.path)
	if err != nil {
		return err
	}
	o.f = f
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 64<<10)
	var off int64
	var body []byte
	for {
		var rec record
		var n int
		rec, n, body, err = readRecord(r, body)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if err := o.cutTornEnd(off); err != nil {
				return err
			}
			break
		}
		o.replay(rec, off, int64(n))
		o.nextSeq = max(o.nextSeq, rec.seq+1)
		off += int64(n)
	}
	o.size = off
	for _, e := range o.bySeq {
		o.entries = append(o.entries, e)
	}
	slices.SortFunc(o.entries, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	return nil
}

func (o *outbox) replay(rec record, off, n int64) {
	switch rec.kind {
	case recPut:
		e := o.bySeq[rec.seq]
		if e != nil { // replaced: kept without its image
			o.live -= e.n
			o.dead += e.n
		} else {
			e = &entry{seq: rec.seq}
			o.bySeq[rec.seq] = e
		}
		t, ok := o.topics[rec.topic]
		if !ok {
			o.topics[rec.topic], t = rec.topic, rec.topic
		}
		e.created, e.class, e.topic, e.off, e.n = rec.created, rec.class, t, off, n
		o.live += n
	case recAck:
		if e := o.bySeq[rec.seq]; e != nil {
			delete(o.bySeq, rec.seq)
			o.live -= e.n
			o.dead += e.n
		}
		o.dead += n
	}
}

func (o *outbox) cutTornEnd(off int64) error {
	end, err := o.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	o.torn = end - off
	o.log.Warn("outbox: its end was cut short or fails its checksum (a power cut while writing?); the incomplete record is removed",
		"path", o.path, "offset", off, "bytes", o.torn)
	if err := o.f.Truncate(off); err != nil {
		return err
	}
	return o.f.Sync()
}

// compact rewrites the waiting records into a new file and swaps it in,
// so acknowledged ones stop taking space. Called with mu held.
func (o *outbox) compact() error {
	tmp := o.path + ".tmp"
	nf, err := o.opts.openFile(tmp)
	if err != nil {
		return err
	}
	if err := nf.Truncate(0); err != nil {
		nf.Close()
		return err
	}
	offs, size, err := o.copyLive(nf)
	if err == nil {
		err = nf.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, o.path)
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(o.path))
	}
	if err != nil {
		nf.Close()
		os.Remove(tmp)
		return err
	}
	o.f.Close()
	o.f, o.size, o.live, o.dead = nf, size, size, 0
	for e, off := range offs {
		e.off = off
	}
	o.acks = o.acks[:0] // the records they retire are not in the new file
	o.st.Fsyncs++
	o.st.BytesWritten += size
	return nil
}

func (o *outbox) copyLive(nf outboxFile) (map[*entry]int64, int64, error) {
	offs := map[*entry]int64{}
	var buf []byte
	var size int64
	for _, e := range o.entries {
		if e.gone || e.off < 0 {
			continue
		}
		rec := make([]byte, e.n)
		if _, err := o.f.ReadAt(rec, e.off); err != nil {
			return nil, 0, err
		}
		offs[e] = size + int64(len(buf))
		buf = append(buf, rec...)
		if len(buf) >= 1<<20 {
			if _, err := nf.WriteAt(buf, size); err != nil {
				return nil, 0, err
			}
			size += int64(len(buf))
			buf = buf[:0]
		}
	}
	if _, err := nf.WriteAt(buf, size); err != nil {
		return nil, 0, err
	}
	return offs, size + int64(len(buf)), nil
}
