package agent

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// The outbox's file is a log of records, each
//
//	u32 body length | u32 CRC-32C of body | body
//
// with a body of
//
//	put: 1 | u64 seq | i64 created (unix ms) | u8 class | u16 topic length | topic | payload
//	ack: 2 | u64 seq
//
// A later put of the same seq replaces the earlier one (a result kept
// without its image); an ack removes it. Appends are the only writes
// besides compaction, which rewrites the live records into a new file.
const (
	recPut     = 1
	recAck     = 2
	recHeader  = 8
	putFixed   = 1 + 8 + 8 + 1 + 2
	maxRecBody = 64 << 20 // far above any message: a longer length is a torn header
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one decoded record.
type record struct {
	kind    byte
	seq     uint64
	created int64
	class   byte
	topic   string
	payload []byte
}

func appendPut(buf []byte, seq uint64, created int64, class byte, topic string, payload []byte) []byte {
	n := putFixed + len(topic) + len(payload)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = binary.LittleEndian.AppendUint32(buf, 0) // CRC, below
	start := len(buf)
	buf = append(buf, recPut)
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(created))
	buf = append(buf, class)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(topic)))
	buf = append(buf, topic...)
	buf = append(buf, payload...)
	binary.LittleEndian.PutUint32(buf[start-4:], crc32.Checksum(buf[start:], castagnoli))
	return buf
}

func appendAck(buf []byte, seq uint64) []byte {
	buf = binary.LittleEndian.AppendUint32(buf, 9)
	buf = binary.LittleEndian.AppendUint32(buf, 0)
	start := len(buf)
	buf = append(buf, recAck)
	buf = binary.LittleEndian.AppendUint64(buf, seq)
	binary.LittleEndian.PutUint32(buf[start-4:], crc32.Checksum(buf[start:], castagnoli))
	return buf
}

// errTorn is a record cut short or failing its checksum: the end of what
// was written completely (a power cut mid-append).
var errTorn = errors.New("torn or corrupt record")

// readRecord reads the record at r's position; it returns io.EOF at a
// clean end and errTorn at a partial or corrupt one.
func readRecord(r *bufio.Reader, body []byte) (record, int, []byte, error) {
	var hdr [recHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return record{}, 0, body, io.EOF
		}
		return record{}, 0, body, errTorn
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n < 9 || n > maxRecBody {
		return record{}, 0, body, errTorn
	}
	body = append(body[:0], make([]byte, n)...)
	if _, err := io.ReadFull(r, body); err != nil {
		return record{}, 0, body, errTorn
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return record{}, 0, body, errTorn
	}
	rec, err := parseBody(body)
	return rec, recHeader + int(n), body, err
}

func parseBody(b []byte) (record, error) {
	rec := record{kind: b[0], seq: binary.LittleEndian.Uint64(b[1:9])}
	switch rec.kind {
	case recAck:
		return rec, nil
	case recPut:
		if len(b) < putFixed {
			return rec, errTorn
		}
		rec.created = int64(binary.LittleEndian.Uint64(b[9:17]))
		rec.class = b[17]
		tl := int(binary.LittleEndian.Uint16(b[18:20]))
		if len(b) < putFixed+tl {
			return rec, errTorn
		}
		rec.topic = string(b[putFixed : putFixed+tl])
		rec.payload = b[putFixed+tl:]
		return rec, nil
	}
	return rec, errTorn
}

// payloadOf returns the payload of a put record read whole from the file.
func payloadOf(rec []byte) ([]byte, error) {
	if len(rec) < recHeader+putFixed {
		return nil, errTorn
	}
	if crc32.Checksum(rec[recHeader:], castagnoli) != binary.LittleEndian.Uint32(rec[4:8]) {
		return nil, errTorn
	}
	r, err := parseBody(rec[recHeader:])
	return r.payload, err
}
