package main

import (
	"os"
	"testing"
	"time"
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
	for _, v := range []struct {
		name string
		env  []string
	}{
		{"go-defaults", []string{"GOGC=100", "GOMEMLIMIT=off"}},
		{"device-defaults", nil},
	} {
		b.Run(v.name, func(b *testing.B) {
			var rss, hwm, anon int64
			for i := range b.N {
				name := "idle-" + v.name + "-" + string(rune('a'+i%26))
				cmd := s.startAgent(name, v.env...)
				s.reported(name)
				// Idle: sample for a while after the connection is up, so
				// the first status, telemetry and reconcile have run.
				for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
					rss, hwm, anon = memStatus(cmd.Process.Pid)
				}
			}
			b.ReportMetric(float64(rss)/(1<<20), "MiB-RSS")
			b.ReportMetric(float64(hwm)/(1<<20), "MiB-HWM")
			b.ReportMetric(float64(anon)/(1<<20), "MiB-RssAnon")
			b.ReportMetric(float64(st.Size())/(1<<20), "MiB-binary")
		})
	}
}
