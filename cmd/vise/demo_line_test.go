package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/vise-edge/vise/lineout"
	"github.com/vise-edge/vise/verdict"
)

// The demo PLC counts one pulse per reject that demo-cam-1's configured
// output signals, even when rejects come closer together than the pulse.
func TestDemoLinePulsePerReject(t *testing.T) {
	l, err := startDemoLine("../../samples/images", "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var cfg struct {
		ByDevice map[string]json.RawMessage `json:"outputs_by_device"`
	}
	raw, _ := json.Marshal(l.configuration())
	json.Unmarshal(raw, &cfg)
	outs, err := lineout.ParseConfigs(cfg.ByDevice["demo-cam-1"])
	if err != nil || len(outs) == 0 || outs[0].Type != "modbus" {
		t.Fatalf("demo-cam-1 outputs %+v, %v; want the Modbus output first", outs, err)
	}
	s, err := lineout.Open(outs[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := lineout.Start(ctx, outs[0], s, slog.New(slog.DiscardHandler), nil)
	defer func() { cancel(); o.Close() }()
	const rejects = 4
	for range rejects {
		o.Offer(&verdict.Verdict{Reject: true})
	}
	deadline := time.Now().Add(10 * time.Second)
	for o.Status().Delivered < rejects || l.pulses.Load() < rejects {
		if time.Now().After(deadline) {
			t.Fatalf("PLC counted %d pulses, output %+v; want %d", l.pulses.Load(), o.Status(), rejects)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := l.pulses.Load(); n != rejects {
		t.Errorf("PLC counted %d pulses for %d rejects", n, rejects)
	}
}
