package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vise-edge/vise/deviceapi"
)

// outbox is the store-and-forward queue: results and verdicts wait in an
// append-only log (outbox_record.go) until the server's broker has
// acknowledged them, oldest first. Writes are group-committed: a writer
// goroutine collects what arrives in one window (20 ms) and pays one
// fsync for the batch, where one per message wore out SD cards. A disk
// cap gives up images before results: sample images first, then
// uncertain ones, defects' last, and only then whole messages, each
// counted. When the disk refuses a write, messages wait in memory up to
// a cap (the loss beyond it counted) and the write is tried again.
type outbox struct {
	path string
	opts outboxOptions
	log  *slog.Logger

	wmu sync.Mutex // one flush or compaction at a time

	mu       sync.Mutex
	f        outboxFile
	size     int64                  // the file's end: everything before it is complete records
	entries  []*entry               // waiting messages by seq; gone ones are trimmed lazily
	bySeq    map[uint64]*entry      // the waiting ones
	pending  []*entry               // not written yet (may hold gone ones)
	acks     []byte                 // ack records not written yet
	live     int64                  // bytes of waiting records in the file
	dead     int64                  // bytes of acknowledged or replaced records in the file
	mem      int64                  // bytes of pending records held in memory
	gone     int                    // gone entries still in entries
	nextSeq  uint64                 //
	topics   map[string]string      // interned
	shedFrom [len(shedOrder)]uint64 // per shedding step, the first seq not yet ruled out
	st       deviceapi.Outbox       // counters
	failing  bool                   // the last write failed
	torn     int64                  // bytes cut off a torn end when opened

	kick   chan struct{} // something to write
	notify chan struct{} // something to forward
	stop   chan struct{}
	done   chan struct{}
}

// outboxOptions configure an outbox; zero values take the defaults.
type outboxOptions struct {
	MaxBytes  int64         // waiting records on disk; default 256 MiB
	MaxMemory int64         // waiting in memory when the disk refuses; default 32 MiB
	MaxAge    time.Duration // older messages are dropped; default 7 days
	Window    time.Duration // group commit window; default 20 ms
	Logger    *slog.Logger
	now       func() time.Time
	openFile  func(path string) (outboxFile, error) // tests inject a failing disk
	diskCheck func() error                          // Config.DiskCheck
}

// outboxFile is what the outbox needs of its file: *os.File, or a test's
// wrapper that fails like a full disk.
type outboxFile interface {
	io.ReaderAt
	io.WriterAt
	io.Seeker
	Sync() error
	Truncate(size int64) error
	Close() error
}

// checkedFile asks check before each write: Config.DiskCheck.
type checkedFile struct {
	outboxFile
	check func() error
}

func (f checkedFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.check(); err != nil {
		return 0, &os.PathError{Op: "write", Path: "outbox", Err: err}
	}
	return f.outboxFile.WriteAt(b, off)
}

type entry struct {
	seq     uint64
	created int64 // unix ms
	class   byte
	topic   string
	off     int64  // of its record in the file; -1 while only in memory
	n       int64  // its record's size
	payload []byte // while only in memory
	gone    bool   // acknowledged or dropped
}

// Message classes, in the order a full outbox gives them up, and a flag
// for a payload that carries an image.
const (
	classSample    byte = 1
	classUncertain byte = 2
	classOther     byte = 3
	classDefect    byte = 4
	classVerdict        = classDefect // the line acted on it: kept like a defect
	classImage     byte = 0x80
)

// entryClass classes a result by the reason its image came along.
func entryClass(r *deviceapi.Result) byte {
	c := classOther
	switch {
	case r.Reason == deviceapi.ReasonSample:
		c = classSample
	case r.Reason == deviceapi.ReasonUncertain:
		c = classUncertain
	case r.Reason == deviceapi.ReasonDefect || len(r.Detections) > 0:
		c = classDefect
	}
	if len(r.ImageData) > 0 {
		c |= classImage
	}
	return c
}

var errOutboxClosed = errors.New("outbox is closed")

func (o *outboxOptions) setDefaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = 256 << 20
	}
	if o.MaxMemory == 0 {
		o.MaxMemory = 32 << 20
	}
	if o.MaxAge == 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	if o.Window == 0 {
		o.Window = 20 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.openFile == nil {
		o.openFile = func(path string) (outboxFile, error) {
			return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		}
	}
	if check := o.diskCheck; check != nil {
		open := o.openFile
		o.openFile = func(path string) (outboxFile, error) {
			f, err := open(path)
			if err != nil {
				return nil, err
			}
			return checkedFile{f, check}, nil
		}
	}
}

// openOutbox opens (or creates) the log at path, recovers what it holds
// and starts the writer.
func openOutbox(path string, opts outboxOptions) (*outbox, error) {
	opts.setDefaults()
	o := &outbox{path: path, opts: opts, log: opts.Logger, bySeq: map[uint64]*entry{}, topics: map[string]string{},
		kick: make(chan struct{}, 1), notify: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	if err := o.recover(); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w; move it away to start with an empty queue", path, err)
	}
	go o.run()
	return o, nil
}

// Close writes what waits and stops the writer.
func (o *outbox) Close() error {
	close(o.stop)
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.f.Close()
}

// put queues a message. It is on disk within one window, unless the disk
// refuses it; then it waits in memory.
func (o *outbox) put(topic string, payload []byte, class byte) error {
	n := recordSize(topic, payload)
	if n > o.opts.MaxBytes || n > maxRecBody {
		return fmt.Errorf("message of %d bytes is larger than the outbox (%d bytes)", n, o.opts.MaxBytes)
	}
	o.mu.Lock()
	select {
	case <-o.stop:
		o.mu.Unlock()
		return errOutboxClosed
	default:
	}
	t, ok := o.topics[topic]
	if !ok {
		o.topics[topic], t = topic, topic
	}
	e := &entry{seq: o.nextSeq, created: o.opts.now().UnixMilli(), class: class, topic: t, off: -1, n: n, payload: payload}
	o.nextSeq++
	o.entries = append(o.entries, e)
	o.bySeq[e.seq] = e
	o.pending = append(o.pending, e)
	o.mem += n
	o.st.Results++
	if over := o.mem - o.opts.MaxMemory; over > 0 {
		o.shed(over, true)
	}
	o.mu.Unlock()
	signal(o.kick)
	signal(o.notify)
	return nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func recordSize(topic string, payload []byte) int64 {
	return int64(recHeader + putFixed + len(topic) + len(payload))
}

// stats is the outbox's part of the device's telemetry.
func (o *outbox) stats() deviceapi.Outbox {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.st
	s.QueueDepth, s.QueueBytes, s.MemoryBytes = len(o.bySeq), o.live+o.mem, o.mem
	return s
}

// run is the writer: it waits for a message, lets the window fill, and
// commits the batch.
func (o *outbox) run() {
	defer close(o.done)
	for {
		select {
		case <-o.stop:
			o.flush()
			return
		case <-o.kick:
		}
		t := time.NewTimer(o.opts.Window)
		select {
		case <-o.stop:
			t.Stop()
			o.flush()
			return
		case <-t.C:
		}
		if o.flush() != nil {
			select { // the disk refused: try again in a while
			case <-o.stop:
				return
			case <-time.After(time.Second):
				signal(o.kick)
			}
		}
	}
}
