package main

import (
	"context"
	"runtime/debug"
	"slices"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
)

// IdleReport is what the simulator measures once every device is connected:
// the memory each device costs the simulator and the server, and the
// server's CPU while the fleet idles.
type IdleReport struct {
	// SimBytesPerDevice is the simulator's resident memory after the
	// devices came up, less what it held before, per device. Measured
	// after a collection that returns free memory to the system, so it
	// counts what the devices keep, not garbage from their handshakes.
	SimBytesPerDevice float64 `json:"sim_bytes_per_device"`
	// ServerRSSBytes is the server's resident memory (its
	// process_resident_memory_bytes) after the idle period;
	// ServerBytesPerDevice is its rise over the value before the
	// devices came, per device.
	ServerRSSBytes       int64   `json:"server_rss_bytes"`
	ServerBytesPerDevice float64 `json:"server_bytes_per_device"`
	// IdleSeconds is how long the fleet idled (--idle); ServerIdleCPU is
	// the server's CPU over it, in cores (1 = one core busy).
	IdleSeconds   float64 `json:"idle_seconds"`
	ServerIdleCPU float64 `json:"server_idle_cpu"`
}

const (
	rssSample = "process_resident_memory_bytes"
	cpuSample = "process_cpu_seconds_total"
)

// memBaseline is the simulator's and the server's memory before the
// devices start.
type memBaseline struct{ sim, server int64 }

func takeBaseline(ctx context.Context, cl *client.Client) (memBaseline, error) {
	srv, err := cl.Metric(ctx, rssSample)
	return memBaseline{sim: settledRSS(), server: int64(srv)}, err
}

// measureIdle lets the connected fleet idle for d and measures it.
func measureIdle(ctx context.Context, cl *client.Client, base memBaseline, devices int, d time.Duration) (*IdleReport, error) {
	cpu0, err := cl.Metric(ctx, cpuSample)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(d):
	}
	cpu1, err := cl.Metric(ctx, cpuSample)
	if err != nil {
		return nil, err
	}
	rss, err := cl.Metric(ctx, rssSample)
	if err != nil {
		return nil, err
	}
	rep := &IdleReport{IdleSeconds: time.Since(start).Seconds(), ServerRSSBytes: int64(rss),
		SimBytesPerDevice:    float64(settledRSS()-base.sim) / float64(devices),
		ServerBytesPerDevice: float64(int64(rss)-base.server) / float64(devices)}
	rep.ServerIdleCPU = (cpu1 - cpu0) / rep.IdleSeconds
	return rep, nil
}

// settledRSS is this process's resident memory after a collection that
// hands free pages back.
func settledRSS() int64 {
	debug.FreeOSMemory()
	return selfRSS()
}

// PhaseReport splits the time to RUNNING by the states a device passes:
// from the deployment's creation to DOWNLOADING (the notice, the server
// signing, the device asking), DOWNLOADING to INSTALLING (release
// metadata, document, artifacts), INSTALLING to RUNNING (lay out, switch,
// health). Each is p50 and p95 over the devices, in milliseconds.
type PhaseReport struct {
	StartP50MS    float64 `json:"start_p50_ms"`
	StartP95MS    float64 `json:"start_p95_ms"`
	DownloadP50MS float64 `json:"download_p50_ms"`
	DownloadP95MS float64 `json:"download_p95_ms"`
	InstallP50MS  float64 `json:"install_p50_ms"`
	InstallP95MS  float64 `json:"install_p95_ms"`
	// ServerCPUSeconds and SimCPUSeconds are the CPU the server and the
	// simulator spent from the deployment's creation until the last
	// device was done: what the rollout costs, whatever else the machine
	// runs (its wall time does depend on that).
	ServerCPUSeconds float64 `json:"server_cpu_seconds"`
	SimCPUSeconds    float64 `json:"sim_cpu_seconds"`
}

// phaseClock notes when each device was first seen in each state.
type phaseClock struct {
	start              time.Time
	downloading, insts []time.Duration
}

func newPhaseClock(n int, start time.Time) *phaseClock {
	return &phaseClock{start: start, downloading: make([]time.Duration, n), insts: make([]time.Duration, n)}
}

// observe records device i's state; a state passed between two looks
// counts from the look that saw a later one.
func (p *phaseClock) observe(i int, state vise.DeviceState) {
	now := time.Since(p.start)
	switch state {
	case vise.DeviceDownloading:
		if p.downloading[i] == 0 {
			p.downloading[i] = now
		}
	case vise.DeviceInstalling, vise.DeviceRunning, vise.DeviceFailed:
		if p.downloading[i] == 0 {
			p.downloading[i] = now
		}
		if p.insts[i] == 0 {
			p.insts[i] = now
		}
	}
}

// report takes done, each device's time to RUNNING (0: never).
func (p *phaseClock) report(done []time.Duration) *PhaseReport {
	var start, download, install []time.Duration
	for i, d := range done {
		if d == 0 || p.insts[i] == 0 {
			continue
		}
		start = append(start, p.downloading[i])
		download = append(download, p.insts[i]-p.downloading[i])
		install = append(install, d-p.insts[i])
	}
	r := &PhaseReport{}
	r.StartP50MS, r.StartP95MS = percentiles(start)
	r.DownloadP50MS, r.DownloadP95MS = percentiles(download)
	r.InstallP50MS, r.InstallP95MS = percentiles(install)
	return r
}

func percentiles(ds []time.Duration) (p50, p95 float64) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(ds[len(ds)/2]), ms(ds[min(len(ds)-1, len(ds)*95/100)])
}
