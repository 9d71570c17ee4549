package source

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxFrameBytes bounds one JPEG read from a stream, so a camera sending
// garbage cannot take the device's memory.
const MaxFrameBytes = 32 << 20

// ErrCorruptJPEG marks a frame that broke off or broke the JPEG format;
// the bytes read are still returned so the frame yields a result with an
// error rather than vanishing.
var ErrCorruptJPEG = errors.New("corrupt JPEG frame")

// Splitter cuts a stream of concatenated JPEGs (ffmpeg's image2pipe
// output) into images. It follows the marker segments rather than looking
// for the first FFD9, because an EXIF thumbnail inside APP1 carries its own
// end marker.
type Splitter struct {
	r      *bufio.Reader
	sawSOI bool // the previous image broke off at the next one's SOI
}

// NewSplitter reads JPEGs from r.
func NewSplitter(r io.Reader) *Splitter { return &Splitter{r: bufio.NewReaderSize(r, 1<<16)} }

// Next returns the next image. An error wrapping ErrCorruptJPEG comes with
// the bytes read; any other error is the stream's.
func (s *Splitter) Next() ([]byte, error) {
	if !s.sawSOI {
		if err := s.findSOI(); err != nil {
			return nil, err
		}
	}
	s.sawSOI = false
	buf := []byte{0xFF, 0xD8}
	scan := false // inside entropy-coded data (after SOS)
	corrupt := func(format string, a ...any) ([]byte, error) {
		return buf, fmt.Errorf("%w: "+format, append([]any{ErrCorruptJPEG}, a...)...)
	}
	for {
		if len(buf) > MaxFrameBytes {
			return corrupt("larger than %d bytes", MaxFrameBytes)
		}
		b, err := s.r.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		if b != 0xFF {
			if !scan {
				return corrupt("byte %#x where a marker belongs", b)
			}
			buf = append(buf, b)
			continue
		}
		m, err := s.r.ReadByte()
		if err != nil {
			return nil, unexpected(err)
		}
		switch {
		case m == 0xD8: // the next image began: this one broke off
			s.sawSOI = true
			return corrupt("broke off after %d bytes", len(buf))
		case m == 0xFF: // fill byte: the next one is the marker
			s.r.UnreadByte()
			continue
		}
		buf = append(buf, 0xFF, m)
		switch {
		case m == 0xD9:
			return buf, nil
		case m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // stuffed byte, TEM or RSTn: no length
		}
		var l [2]byte
		if _, err := io.ReadFull(s.r, l[:]); err != nil {
			return nil, unexpected(err)
		}
		n := int(l[0])<<8 | int(l[1])
		if n < 2 || len(buf)+n > MaxFrameBytes {
			return corrupt("segment %#x of length %d", m, n)
		}
		buf = append(buf, l[0], l[1])
		start := len(buf)
		buf = append(buf, make([]byte, n-2)...)
		if _, err := io.ReadFull(s.r, buf[start:]); err != nil {
			return nil, unexpected(err)
		}
		scan = m == 0xDA // SOS: entropy-coded data follows
	}
}

// findSOI skips to the next FF D8.
func (s *Splitter) findSOI() error {
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			return err
		}
		if b != 0xFF {
			continue
		}
		n, err := s.r.Peek(1)
		if err != nil {
			return err
		}
		if n[0] == 0xD8 {
			s.r.ReadByte()
			return nil
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
