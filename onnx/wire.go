package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

type wireType int

const (
	wireVarint wireType = 0
	wireI64    wireType = 1
	wireBytes  wireType = 2
	wireI32    wireType = 5
)

// parser reads protobuf fields from a stream, tracking the offset for error
// messages.
type parser struct {
	r     *bufio.Reader
	off   int64
	depth int
}

func (p *parser) byte() (byte, error) {
	b, err := p.r.ReadByte()
	if err == nil {
		p.off++
	}
	return b, err
}

func (p *parser) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		b, err := p.byte()
		if err != nil {
			return 0, p.truncated(err, "a number")
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, p.invalid("varint too long")
}

func (p *parser) invalid(what string) error {
	return fmt.Errorf("not an ONNX model: invalid protobuf at byte %d: %s", p.off, what)
}

func (p *parser) truncated(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated ONNX file: ended at byte %d inside %s: %w", p.off, what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("read model at byte %d: %w", p.off, err)
}

// fields calls fn for each field of a message of length n (n < 0: until
// EOF). For length-delimited fields, fn gets the length and must consume
// exactly that many bytes; for varints it gets the value; for fixed-size
// fields it must call skip.
func (p *parser) fields(n int64, _ int, fn func(num int, wt wireType, v int64) error) error {
	if p.depth++; p.depth > maxDepth {
		return p.invalid("nested too deeply")
	}
	defer func() { p.depth-- }()
	end := p.off + n
	for n < 0 || p.off < end {
		if n < 0 {
			if _, err := p.r.Peek(1); err == io.EOF {
				return nil
			}
		}
		key, err := p.varint()
		if err != nil {
			return err
		}
		num, wt := int(key>>3), wireType(key&7)
		if num == 0 {
			return p.invalid("field number 0")
		}
		var v int64
		switch wt {
		case wireVarint:
			u, err := p.varint()
			if err != nil {
				return err
			}
			v = int64(u)
		case wireBytes:
			u, err := p.varint()
			if err != nil {
				return err
			}
			if n >= 0 && u > uint64(end-p.off) || u > 1<<62 {
				return fmt.Errorf("truncated ONNX file: a field at byte %d wants %d bytes, only %d left in its message", p.off, u, end-p.off)
			}
			v = int64(u)
		case wireI64, wireI32:
		default:
			return p.invalid(fmt.Sprintf("unsupported wire type %d", wt))
		}
		if err := fn(num, wt, v); err != nil {
			return err
		}
	}
	if p.off != end {
		return p.invalid("a field overruns its message")
	}
	return nil
}

// skip consumes a field's payload without keeping it.
func (p *parser) skip(wt wireType, n int64) error {
	switch wt {
	case wireVarint:
		return nil // fields already read the value
	case wireI64:
		n = 8
	case wireI32:
		n = 4
	}
	got, err := io.CopyN(io.Discard, p.r, n)
	p.off += got
	if err != nil {
		return p.truncated(err, "a skipped field")
	}
	return nil
}

func (p *parser) str(n int64, dst *string) error {
	if n > maxString {
		return fmt.Errorf("invalid ONNX file: a %d-byte string at byte %d (limit %d)", n, p.off, maxString)
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(p.r, buf)
	p.off += int64(got)
	if err != nil {
		return p.truncated(err, "a string")
	}
	*dst = string(buf)
	return nil
}
