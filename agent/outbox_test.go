package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise/deviceapi"
)

const testTopic = "vise/devices/d/inference/cam"

// testOutbox opens an outbox whose writer only commits on Close or an
// explicit flush, so a test decides where batches end.
func testOutbox(t *testing.T, path string, opts outboxOptions) *outbox {
	t.Helper()
	if opts.Window == 0 {
		opts.Window = time.Hour
	}
	o, err := openOutbox(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// result is a queued result's payload and class.
func result(t *testing.T, id, reason string, image int) ([]byte, byte) {
	t.Helper()
	r := deviceapi.Result{Schema: 1, MsgID: id, Reason: reason, ImageData: []byte(strings.Repeat("i", image))}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b, entryClass(&r)
}

func putN(t *testing.T, o *outbox, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		b, c := result(t, fmt.Sprintf("m%03d", i), "", 0)
		if err := o.put(testTopic, b, c); err != nil {
			t.Fatal(err)
		}
	}
}

// ids lists the msg_ids waiting, oldest first.
func ids(t *testing.T, o *outbox) []string {
	t.Helper()
	var out []string
	for _, m := range o.peek(1 << 20) {
		var r deviceapi.Result
		if err := json.Unmarshal(m.payload, &r); err != nil {
			t.Fatalf("queued payload %q: %v", m.payload, err)
		}
		if m.topic != testTopic {
			t.Fatalf("topic %q, want %q", m.topic, testTopic)
		}
		out = append(out, r.MsgID)
	}
	return out
}

func names(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("m%03d", i))
	}
	return out
}

// A batch is one fsync; what is acknowledged stays gone after a restart,
// what is not comes back in order, once.
func TestOutboxGroupCommitAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	o := testOutbox(t, path, outboxOptions{})
	putN(t, o, 0, 100)
	if err := o.flush(); err != nil {
		t.Fatal(err)
	}
	if st := o.stats(); st.Fsyncs != 1 || st.Results != 100 || st.QueueDepth != 100 {
		t.Errorf("after one batch of 100: %+v, want 1 fsync", st)
	}
	for _, m := range o.peek(30) {
		o.ack(m.seq)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = testOutbox(t, path, outboxOptions{})
	defer o.Close()
	if diff := cmp.Diff(names(30, 100), ids(t, o)); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

// A power cut mid-append leaves a partial or corrupt record at the end:
// it is found by its length or checksum and cut off; every record before
// it, and every one written after the restart, is there.
func TestOutboxTornEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(b []byte, last int) []byte
	}{
		{"cut in the header", func(b []byte, last int) []byte { return b[:last+3] }},
		{"cut in the body", func(b []byte, last int) []byte { return b[:len(b)-5] }},
		{"bit flipped in the body", func(b []byte, last int) []byte { b[len(b)-2] ^= 0x10; return b }},
		{"garbage length", func(b []byte, last int) []byte { copy(b[last:], []byte{0xff, 0xff, 0xff, 0x7f}); return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.log")
			o := testOutbox(t, path, outboxOptions{})
			putN(t, o, 0, 10)
			o.flush()
			last := o.size
			putN(t, o, 10, 1)
			o.Close()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tc.tear(b, int(last)), 0o600); err != nil {
				t.Fatal(err)
			}
			o = testOutbox(t, path, outboxOptions{})
			if o.torn == 0 || o.size != last {
				t.Errorf("recovered to %d bytes (%d cut), want %d", o.size, o.torn, last)
			}
			putN(t, o, 11, 1)
			o.Close()
			o = testOutbox(t, path, outboxOptions{})
			defer o.Close()
			want := append(names(0, 10), "m011")
			if diff := cmp.Diff(want, ids(t, o)); diff != "" {
				t.Errorf("after the torn end (-want +got):\n%s", diff)
			}
		})
	}
}

// Over its disk cap the outbox gives up images first — samples, then
// uncertain frames, defects last — keeping the results, and only then
// whole messages; each counted.
func TestOutboxDiskCapDropOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	var sizes int64
	msgs := []struct{ id, reason string }{{"d0", deviceapi.ReasonDefect}, {"u0", deviceapi.ReasonUncertain}, {"s0", deviceapi.ReasonSample},
		{"s1", deviceapi.ReasonSample}, {"u1", deviceapi.ReasonUncertain}}
	for _, m := range msgs {
		b, _ := result(t, m.id, m.reason, 10_000)
		sizes += recordSize(testTopic, b)
	}
	// Room for all five without two images.
	o := testOutbox(t, path, outboxOptions{MaxBytes: sizes - 15_000})
	defer o.Close()
	for _, m := range msgs {
		b, c := result(t, m.id, m.reason, 10_000)
		if err := o.put(testTopic, b, c); err != nil {
			t.Fatal(err)
		}
		o.flush()
	}
	if diff := cmp.Diff(map[string]bool{"d0": true, "u0": true, "u1": true}, withImage(t, o)); diff != "" {
		t.Errorf("images kept (-want +got):\n%s", diff)
	}
	st := o.stats()
	if st.ImagesDropped != 2 || st.QueueDepth != 5 || st.QueueDropped != 0 || st.QueueBytes > o.opts.MaxBytes {
		t.Errorf("stats %+v, want 2 images dropped, 5 results kept, at most %d bytes", st, o.opts.MaxBytes)
	}
	// Then defects' images; past what images can free, whole messages
	// go: samples, then uncertain frames.
	o.opts.MaxBytes = st.QueueBytes - 30_000
	o.flush()
	if st := o.stats(); st.ImagesDropped != 5 || st.QueueDropped != 0 {
		t.Errorf("after a cap below the images: %+v, want every image and no result dropped", st)
	}
	o.opts.MaxBytes = o.stats().QueueBytes / 2
	o.flush()
	if diff := cmp.Diff([]string{"d0", "u1"}, ids(t, o)); diff != "" {
		t.Errorf("results kept under half the cap (-want +got):\n%s", diff)
	}
	if st := o.stats(); st.QueueDropped != 3 || st.QueueBytes > o.opts.MaxBytes {
		t.Errorf("stats %+v, want 3 dropped, at most %d bytes", st, o.opts.MaxBytes)
	}
}

// withImage is the set of queued results that still carry their image;
// those without one say why.
func withImage(t *testing.T, o *outbox) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range o.peek(1 << 20) {
		var r deviceapi.Result
		json.Unmarshal(m.payload, &r)
		if len(r.ImageData) > 0 {
			out[r.MsgID] = true
		} else if r.ImageDropped != deviceapi.ImageDroppedDiskCap {
			t.Errorf("%s lost its image without saying why: %q", r.MsgID, r.ImageDropped)
		}
	}
	return out
}

// fullDisk fails writes like a full disk while full is set, after
// writing part of the buffer, as a real short write does.
type fullDisk struct {
	*os.File
	full *bool
}

func (f fullDisk) WriteAt(b []byte, off int64) (int, error) {
	if *f.full {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(b, off)
}

// A full disk: messages wait in memory, the loss past the memory cap is
// counted, nothing crashes, and once the disk has room they are written —
// after the partial write, which must not corrupt the log.
func TestOutboxFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	full := false
	opts := outboxOptions{MaxMemory: 20 * recordSize(testTopic, mustResult(t, "m000")), openFile: func(p string) (outboxFile, error) {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		return fullDisk{f, &full}, err
	}}
	o := testOutbox(t, path, opts)
	putN(t, o, 0, 5)
	o.flush()
	full = true
	putN(t, o, 5, 25)
	if err := o.flush(); err == nil {
		t.Fatal("flush on a full disk returned no error")
	}
	st := o.stats()
	if st.WriteErrors != 1 || st.MemoryBytes == 0 || st.QueueDropped != 5 || st.QueueDepth != 25 {
		t.Errorf("on a full disk: %+v; want 1 write error, 5 dropped past the memory cap, 25 waiting", st)
	}
	full = false
	if err := o.flush(); err != nil {
		t.Fatalf("flush once the disk has room: %v", err)
	}
	o.Close()
	o = testOutbox(t, path, outboxOptions{})
	defer o.Close()
	want := append(names(0, 5), names(10, 30)...)
	if diff := cmp.Diff(want, ids(t, o)); diff != "" {
		t.Errorf("after the disk filled and recovered (-want +got):\n%s", diff)
	}
	if o.torn != 0 {
		t.Errorf("the partial write left %d bytes of a torn record", o.torn)
	}
}

func mustResult(t *testing.T, id string) []byte {
	b, _ := result(t, id, "", 0)
	return b
}

// Acknowledged records are compacted away once they outweigh the waiting
// ones; the waiting ones survive it and a restart.
func TestOutboxCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	o := testOutbox(t, path, outboxOptions{})
	for round := range 3 {
		b, c := result(t, fmt.Sprintf("big%d", round), deviceapi.ReasonSample, 400_000)
		o.put(testTopic, b, c)
		o.flush()
		for _, m := range o.peek(1) {
			o.ack(m.seq)
		}
	}
	putN(t, o, 0, 3)
	o.flush()
	fi, _ := os.Stat(path)
	if fi.Size() > 1<<20 {
		t.Errorf("log is %d bytes after its acknowledged records outgrew 1 MiB; want it compacted", fi.Size())
	}
	o.Close()
	o = testOutbox(t, path, outboxOptions{})
	defer o.Close()
	if diff := cmp.Diff(names(0, 3), ids(t, o)); diff != "" {
		t.Errorf("after compaction and restart (-want +got):\n%s", diff)
	}
}

// The same on a real full disk: a small tmpfs, filled up. Writes fail
// with ENOSPC, messages wait in memory (images given up first, counted),
// and once room is made everything kept reaches the log.
func TestOutboxRealFullDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "outbox.log")
	o := testOutbox(t, path, outboxOptions{MaxMemory: 200 << 10})
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 480<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b, c := result(t, fmt.Sprintf("m%03d", i), deviceapi.ReasonSample, 30_000)
		if err := o.put(testTopic, b, c); err != nil {
			t.Fatal(err)
		}
	}
	err := o.flush()
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full disk = %v, want ENOSPC", err)
	}
	st := o.stats()
	if st.WriteErrors == 0 || st.ImagesDropped == 0 || st.QueueDepth != 20 || st.MemoryBytes > 200<<10 {
		t.Errorf("on a full disk: %+v; want write errors, images dropped to stay under 200 KiB of memory, 20 results kept", st)
	}
	os.Remove(filler)
	if err := o.flush(); err != nil {
		t.Fatalf("flush after room was made: %v", err)
	}
	o.Close()
	o = testOutbox(t, path, outboxOptions{})
	defer o.Close()
	if got := ids(t, o); len(got) != 20 {
		t.Errorf("after the disk had room again: %d results, want 20", len(got))
	}
}

// hookFile calls onWrite in the middle of each append, outside the
// outbox's lock, where the forwarder can acknowledge a message.
type hookFile struct {
	*os.File
	onWrite func()
}

func (f hookFile) WriteAt(b []byte, off int64) (int, error) {
	if f.onWrite != nil {
		f.onWrite()
	}
	return f.File.WriteAt(b, off)
}

// A message acknowledged while its batch is being written: counted once,
// and gone after a restart.
func TestOutboxAckDuringWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	var o *outbox
	once := false
	opts := outboxOptions{openFile: func(p string) (outboxFile, error) {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		return hookFile{f, func() {
			if !once {
				once = true
				o.ack(o.peek(1)[0].seq)
			}
		}}, err
	}}
	o = testOutbox(t, path, opts)
	putN(t, o, 0, 3)
	if err := o.flush(); err != nil {
		t.Fatal(err)
	}
	if st := o.stats(); st.MemoryBytes != 0 || st.QueueDepth != 2 || st.QueueBytes != o.live {
		t.Errorf("after an ack during the write: %+v, live %d; want nothing in memory, 2 waiting", st, o.live)
	}
	o.Close()
	o = testOutbox(t, path, outboxOptions{})
	defer o.Close()
	if diff := cmp.Diff(names(1, 3), ids(t, o)); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}

// A result whose image was given up after it was written, then
// acknowledged before the smaller copy was: it does not come back with
// its image after a restart.
func TestOutboxStrippedThenAcked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.log")
	o := testOutbox(t, path, outboxOptions{})
	b, c := result(t, "s0", deviceapi.ReasonSample, 10_000)
	o.put(testTopic, b, c)
	putN(t, o, 0, 1)
	o.flush()
	o.mu.Lock()
	o.stripImage(o.entries[0])
	o.mu.Unlock()
	o.ack(o.peek(1)[0].seq)
	o.Close()
	o = testOutbox(t, path, outboxOptions{})
	defer o.Close()
	if diff := cmp.Diff([]string{"m000"}, ids(t, o)); diff != "" {
		t.Errorf("after restart (-want +got):\n%s", diff)
	}
}
