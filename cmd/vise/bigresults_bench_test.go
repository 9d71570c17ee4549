package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/ingest"
)

// largestResult is a result as large as the door lets through: the most
// detections, and a field padding it to just under MaxResultBytes.
func largestResult(msgID string) []byte {
	det := `{"class":"scratch","class_id":0,"confidence":0.9,"box":{"x":1,"y":2,"width":3,"height":4}}`
	head := `{"schema":1,"msg_id":"` + msgID + `","detections":[` + strings.TrimSuffix(strings.Repeat(det+",", ingest.MaxDetections), ",") + `],"note":"`
	return []byte(head + strings.Repeat("<", ingest.MaxResultBytes-len(head)-2) + `"}`)
}

// BenchmarkServeLargestResults measures the server's peak resident memory
// (VmHWM) while `vise results` lists results of the largest allowed size,
// against its peak after storing them. The server's pages are bounded by
// vise.MaxResultsPageBytes whatever the limit (the CLI follows the pages),
// so listing them all adds tens of MB, not their whole size.
//
//	go test ./cmd/vise -run '^$' -bench ServeLargestResults -benchtime 3x
func BenchmarkServeLargestResults(b *testing.B) {
	const n = 40
	e, srv := startServerOn(b, b.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
	cam := e.startAgent("cam-1", "")
	cam.cmd.Process.Signal(syscall.SIGTERM)
	cam.cmd.Wait()
	c, err := mqttAs(b, mqttAddr(b, cam), deviceTLS(b, cam), "cam-1")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		pub := &paho.Publish{Topic: "vise/devices/cam-1/inference/vise.inspect", QoS: 1, Payload: largestResult(fmt.Sprintf("big-%d", i))}
		if _, err := c.Publish(ctx, pub); err != nil {
			b.Fatalf("publish %d: %v", i, err)
		}
	}
	db := openDB(b, "sqlite", filepath.Join(e.data, "vise.db"))
	e.waitFor("every result stored", time.Minute, func() bool {
		var got int
		db.QueryRow(`SELECT COUNT(*) FROM results`).Scan(&got)
		return got == n
	})
	stored := procPeakRSS(srv.Process.Pid)
	b.ResetTimer()
	for range b.N {
		var rs []vise.Result
		jsonUnmarshal(b, e.ok("results", "--limit", "10000", "-o", "json"), &rs)
		if len(rs) != n {
			b.Fatalf("vise results --limit 10000 listed %d of the %d results stored", len(rs), n)
		}
	}
	b.StopTimer()
	served := procPeakRSS(srv.Process.Pid)
	b.ReportMetric(float64(stored)/(1<<20), "MiB-peak-stored")
	b.ReportMetric(float64(served)/(1<<20), "MiB-peak-served")
	b.ReportMetric(float64(served)/float64(stored), "served/stored")
}
