package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/vise-edge/vise/source"
	"github.com/vise-edge/vise/source/sourcetest"
)

// scrape reads http://addr/metrics as Prometheus text: each sample by its
// name and labels as written, e.g. `vise_infer_source_state{state="streaming"}`.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// The model slower than a real MJPEG camera: /metrics counts the dropped
// frames, and once the camera is gone (the counters still) metrics and
// component status agree on every count and on the camera's state.
func TestRunMetrics(t *testing.T) {
	needORT(t)
	sourcetest.NeedTools(t, false)
	t.Parallel()
	_, imgs := sourcetest.CameraImages(t, 3)
	url, stopCamera := sourcetest.StoppableMJPEGServer(t, imgs, 400)
	b := startBroker(t)
	addr := "127.0.0.1:" + strconv.Itoa(sourcetest.FreePort(t))
	plc := "tcp://127.0.0.1:" + strconv.Itoa(sourcetest.FreePort(t)) // nobody listens: every verdict undelivered
	b.component(t, "cam", map[string]any{"source": url, "metrics": addr, "reconnect_max": "200ms",
		"reject_when": map[string]any{"min_confidence": 0.0},
		"outputs":     []map[string]any{{"type": "modbus", "name": "plc", "url": plc, "coil": 1, "timeout": "200ms", "on": "all"}}})
	poll(t, "the metrics listener", func() bool {
		_, err := http.Get("http://" + addr + "/metrics")
		return err == nil
	})
	poll(t, "dropped frames in the metrics", func() bool {
		m := scrape(t, addr)
		return m["vise_infer_frames_dropped_total"] > 0 && m["vise_infer_results_total"] > 0
	})
	stopCamera()
	var m map[string]float64
	var st componentStatus
	poll(t, "metrics and status to agree on a lost camera", func() bool {
		m, st = scrape(t, addr), b.lastStatus(t, "cam")
		return st.Source != nil && st.Source.State == source.StateDegraded &&
			m["vise_infer_frames_dropped_total"] == float64(st.FramesDropped) &&
			m["vise_infer_results_total"] == float64(st.Images) &&
			m["vise_infer_frames_read_total"] == float64(st.Source.Frames) &&
			m["vise_infer_source_reconnects_total"] == float64(st.Source.Reconnects) &&
			m[`vise_infer_output_undelivered_total{output="plc",type="modbus"}`] == float64(st.Outputs["plc"].Undelivered)
	})
	want := map[string]float64{
		`vise_infer_source_state{state="degraded"}`:        1,
		`vise_infer_source_state{state="streaming"}`:       0,
		`vise_infer_rejects_total`:                         float64(st.Rejects),
		`vise_infer_errors_total`:                          float64(st.Errors),
		`vise_infer_output_up{output="plc",type="modbus"}`: 0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if m["vise_infer_frames_dropped_total"] == 0 || m["vise_infer_frames_read_total"] < m["vise_infer_results_total"]+m["vise_infer_frames_dropped_total"] ||
		m[`vise_infer_output_undelivered_total{output="plc",type="modbus"}`] == 0 {
		t.Errorf("metrics %v: want dropped frames, frames read covering results plus dropped and undelivered verdicts", m)
	}
}
