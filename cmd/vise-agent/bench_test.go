package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vise-edge/vise/procstat"
)

// BenchmarkIdleRSS enrolls a real vise-agent with a real `vise server`,
// waits until its status has come over MQTT, lets it idle and reports its
// resident memory (VmRSS at the end, VmHWM the peak), once with the Go
// runtime's own defaults as the baseline and once with vise-agent's device
// defaults (memory.go), and the stripped binary's size. Run with
//
//	go test ./cmd/vise-agent -run '^$' -bench IdleRSS -benchtime 1x
func BenchmarkIdleRSS(b *testing.B) {
	st, err := os.Stat(agentBin)
	if err != nil {
		b.Fatal(err)
	}
	s := startServer(b)
	runs := 0
	for _, v := range []struct {
		name string
		env  []string
	}{
		{"go-defaults", []string{"GOGC=100", "GOMEMLIMIT=off"}},
		{"device-defaults", nil},
	} {
		b.Run(v.name, func(b *testing.B) {
			var rss, hwm, anon int64
			for range b.N {
				runs++ // a device name is enrolled once: one per run, -count included
				name := fmt.Sprintf("idle-%s-%d", v.name, runs)
				cmd := s.startAgent(name, v.env...)
				s.reported(name)
				// Idle: sample for a while after the connection is up, so
				// the first status, telemetry and reconcile have run.
				pid := cmd.Process.Pid
				for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
					rss, hwm, anon = procstat.RSS(pid), procstat.PeakRSS(pid), procstat.Status(pid, "RssAnon")
				}
				if rss == 0 {
					b.Fatalf("agent %s is not running (no /proc/%d/status)", name, pid)
				}
			}
			b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
			b.ReportMetric(float64(hwm)/(1<<20), "MiB-HWM")
			b.ReportMetric(float64(anon)/(1<<20), "MiB-RssAnon")
			b.ReportMetric(float64(st.Size())/(1<<20), "MiB-binary")
		})
	}
}
