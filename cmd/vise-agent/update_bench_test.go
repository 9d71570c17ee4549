package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
)

// BenchmarkSelfUpdate measures the agent's self-update on a real device
// process against a real server: each iteration deploys a new vise.agent
// (alternating two builds, so every one is a swap) and then, as the
// baseline in the same run, a new version of a small script component
// (run step plus a health step). Reported per swap: download+verify,
// candidate start to healthy, takeover (healthy report to the new process
// connected), deploy-to-RUNNING as seen by the server, and its ratio to
// the baseline component update. Run with
//
//	go test ./cmd/vise-agent -run '^$' -bench SelfUpdate -benchtime 3x
func BenchmarkSelfUpdate(b *testing.B) {
	updateBuilds(b)
	v3 := filepath.Join(filepath.Dir(agentBin), "vise-agent-3")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -X main.Version=3.0.0", "-o", v3, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v: %s", err, out)
	}
	s := startServer(b)
	d := s.startDevice("bench-swap")
	work := b.TempDir()
	var sum agent.SwapTimings
	var swap, comp time.Duration
	b.ResetTimer()
	for i := range b.N {
		bin := map[bool]string{true: v3, false: builds.v2}[i%2 == 0]
		version := fmt.Sprintf("3.0.%d", i)
		s.publishAgent(version, bin, "")
		start := time.Now()
		if st := s.outcome(d.name, s.deploy(d.name, "vise.agent@"+version)); st.State != vise.DeviceRunning {
			b.Fatalf("swap %d: %s: %s", i, st.State, st.Message)
		}
		swap += time.Since(start)
		tm, _, err := agent.LoadSwapTimings(d.data)
		if err != nil {
			b.Fatal(err)
		}
		sum.DownloadVerifyMS += tm.DownloadVerifyMS
		sum.CandidateMS += tm.CandidateMS
		sum.TakeoverMS += tm.TakeoverMS

		dir := filepath.Join(work, version)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "run.sh"), []byte(fmt.Sprintf("#!/bin/sh\n# %d\nexec sleep 1000\n", i)), 0o755)
		recipe := "name: bench.noop\nversion: " + version + "\nartifacts: [{name: run.sh, file: run.sh, executable: true}]\n" +
			"lifecycle: {run: {script: exec ./artifacts/run.sh}, health: {script: 'true'}}\n"
		os.WriteFile(filepath.Join(dir, "recipe.yaml"), []byte(recipe), 0o644)
		if _, err := s.vise("component", "create", "-f", filepath.Join(dir, "recipe.yaml")); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if st := s.outcome(d.name, s.deploy(d.name, "bench.noop@"+version)); st.State != vise.DeviceRunning {
			b.Fatalf("component update %d: %s: %s", i, st.State, st.Message)
		}
		comp += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(sum.DownloadVerifyMS/n, "download_verify_ms")
	b.ReportMetric(sum.CandidateMS/n, "candidate_ms")
	b.ReportMetric(sum.TakeoverMS/n, "takeover_ms")
	b.ReportMetric(float64(swap.Milliseconds())/n, "swap_ms")
	b.ReportMetric(float64(comp.Milliseconds())/n, "component_update_ms")
	b.ReportMetric(float64(swap)/float64(comp), "swap/component_update")
}
