package main

import (
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/procstat"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

// BenchmarkDeployToRunning measures, with real processes on loopback, the
// time from `vise deploy` to every device of a group reporting RUNNING.
// VISE_BENCH_AGENTS sets the group size (default 1). It reports the agents'
// resident memory once idle.
//
//	go test ./cmd/vise -run '^$' -bench DeployToRunning -benchtime 5x
//	VISE_BENCH_AGENTS=100 go test ./cmd/vise -run '^$' -bench DeployToRunning -benchtime 3x
func BenchmarkDeployToRunning(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("VISE_BENCH_AGENTS"))
	if n <= 0 {
		n = 1
	}
	e := startServer(b)
	e.ok("group", "create", "bench")
	agents := make([]*agentProc, n)
	for i := range agents {
		agents[i] = e.startAgent(fmt.Sprintf("bench-%03d", i), "bench")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		version := fmt.Sprintf("1.0.%d", i)
		os.WriteFile(e.workdir+"/m.yaml", []byte("name: bench.model\nversion: "+version+"\n"), 0o644)
		e.ok("component", "create", "-f", e.workdir+"/m.yaml")
		b.StartTimer()
		var d vise.Deployment
		out := e.ok("deploy", "--group", "bench", "--component", "bench.model@"+version, "-o", "json")
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Minute)
		for {
			out := e.ok("deployment", "show", d.ID, "-o", "json")
			if strings.Contains(out, `"status": "SUCCEEDED"`) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("deployment %s did not reach every device: %s", d.ID, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.StopTimer()
	time.Sleep(2 * time.Second)
	var total int64
	for _, a := range agents {
		total += procRSS(a.cmd.Process.Pid)
	}
	b.ReportMetric(float64(total)/float64(n)/(1<<20), "MiB-RSS/agent")
	b.ReportMetric(float64(n), "agents")
}

func procRSS(pid int) int64 { return procstat.RSS(pid) }

// procPeakRSS is a process's high-water resident memory.
func procPeakRSS(pid int) int64 { return procstat.PeakRSS(pid) }
