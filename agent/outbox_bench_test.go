package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vise-edge/vise/deviceapi"
)

// benchResult is a typical result without an image: two detections.
func benchResult(i int) []byte {
	r := deviceapi.Result{Schema: 1, MsgID: fmt.Sprintf("01JBENCH%018d", i), Device: "line-3-cam-1", Component: "vise.inspect",
		Model:      deviceapi.ModelRef{Name: "metal-tags", Version: "7", SHA256: "9f2c4e0b5d1a7c3e8f6b2d4a0c9e7f1b3d5a8c2e4f6b0d9a7c1e3f5b8d2a4c6e"},
		Image:      deviceapi.ImageRef{Name: fmt.Sprintf("tag-%04d.jpg", i), Width: 450, Height: 300},
		CapturedAt: time.Unix(1_700_000_000, 0).UTC(), InferredAt: time.Unix(1_700_000_000, 0).UTC(),
		LatencyMS: deviceapi.Latency{Pre: 2.1, Infer: 18.4, Post: 0.3},
		Detections: []deviceapi.Detection{{Class: "scratch", Confidence: 0.91, Box: deviceapi.Box{X: 81, Y: 123, Width: 82, Height: 97}},
			{Class: "scratch", Confidence: 0.42, Box: deviceapi.Box{X: 12, Y: 40, Width: 30, Height: 11}}}}
	b, _ := json.Marshal(r)
	return b
}

// BenchmarkOutbox queues 1,000 results, as fast as a busy device (several
// cameras, or the fleet simulator) offers them, and waits until they are
// on disk: the SQLite queue the agent had (one transaction, so one fsync,
// per result) against the group-committed log. Reported per 1,000
// results: fsyncs (the log counts its own; SQLite in WAL mode with
// synchronous=FULL syncs the WAL once per commit, which `strace -c -e
// fsync` confirms) and bytes the process wrote (/proc/self/io wchar).
func BenchmarkOutbox(b *testing.B) {
	msgs := make([][]byte, 1000)
	for i := range msgs {
		msgs[i] = benchResult(i)
	}
	b.Run("sqlite", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			o, err := openSQLiteOutbox(filepath.Join(b.TempDir(), "outbox.db"), 256<<20, time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			w0 := wchar(b)
			b.StartTimer()
			for _, m := range msgs {
				if err := o.put(testTopic, m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(wchar(b)-w0), "bytes/1000results")
			b.ReportMetric(1000, "fsyncs/1000results")
			o.Close()
			b.StartTimer()
		}
	})
	b.Run("log", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			o, err := openOutbox(filepath.Join(b.TempDir(), "outbox.log"), outboxOptions{})
			if err != nil {
				b.Fatal(err)
			}
			w0 := wchar(b)
			b.StartTimer()
			for _, m := range msgs {
				if err := o.put(testTopic, m, classDefect); err != nil {
					b.Fatal(err)
				}
			}
			o.Close() // waits for the last batch to be on disk
			b.StopTimer()
			st := o.stats()
			b.ReportMetric(float64(wchar(b)-w0), "bytes/1000results")
			b.ReportMetric(float64(st.Fsyncs), "fsyncs/1000results")
			b.StartTimer()
		}
	})
}

// wchar is what this process has written so far, all files included.
func wchar(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io to count written bytes:", err)
	}
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar: ")); ok {
			n, _ := strconv.ParseInt(string(v), 10, 64)
			return n
		}
	}
	b.Skip("/proc/self/io has no wchar line")
	return 0
}
