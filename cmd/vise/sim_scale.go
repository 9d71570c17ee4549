package main

import (
	"context"
	"runtime/debug"
	"time"

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
