package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/source/aravis/aravistest"
	"github.com/vise-edge/vise/source/sourcetest"
	"github.com/vise-edge/vise/verdict"
)

// These tests run vise-infer on live camera streams served by real
// servers, with a real MQTT broker standing in for the agent's local IPC
// endpoint.

// ipcBroker is an MQTT broker on 127.0.0.1 that records what the
// component publishes, per topic.
type ipcBroker struct {
	srv  *mqtt.Server
	addr string
	mu   sync.Mutex
	msgs map[string][][]byte
}

func startBroker(t *testing.T) *ipcBroker {
	t.Helper()
	b := &ipcBroker{msgs: map[string][][]byte{}}
	b.srv = mqtt.New(&mqtt.Options{InlineClient: true})
	b.srv.AddHook(new(auth.AllowHook), nil)
	tcp := listeners.NewTCP(listeners.Config{ID: "ipc", Address: "127.0.0.1:0"})
	if err := b.srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.srv.Close() })
	b.addr = tcp.Address()
	b.srv.Subscribe("#", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		b.mu.Lock()
		b.msgs[pk.TopicName] = append(b.msgs[pk.TopicName], pk.Payload)
		b.mu.Unlock()
	})
	return b
}

func (b *ipcBroker) got(topic string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte{}, b.msgs[topic]...)
}

// lastStatus is the newest status/<comp> the component published.
func (b *ipcBroker) lastStatus(t *testing.T, comp string) componentStatus {
	t.Helper()
	var st componentStatus
	if all := b.got("status/" + comp); len(all) > 0 {
		if err := json.Unmarshal(all[len(all)-1], &st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// component runs vise-infer as a component talking to b, with cfg as its
// configuration, until the test ends.
func (b *ipcBroker) component(t *testing.T, comp string, cfg map[string]any, args ...string) *exec.Cmd {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	raw, _ := json.Marshal(cfg)
	os.WriteFile(cfgPath, raw, 0o644)
	cmd := exec.Command(bin, append([]string{"run", "--model", model, "--ort-lib", ortLib, "--threads", "1", "--status-interval", "200ms"}, args...)...)
	cmd.Env = append(os.Environ(), "VISE_IPC="+b.addr, "VISE_COMPONENT="+comp, "VISE_IPC_TOKEN=t", "VISE_CONFIG="+cfgPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		<-exited
		if t.Failed() {
			t.Logf("vise-infer stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunRTSPFrames reads a real RTSP stream for exactly --frames frames.
func TestRunRTSPFrames(t *testing.T) {
	needORT(t)
	sourcetest.NeedTools(t, true)
	t.Parallel()
	dir, _ := sourcetest.CameraImages(t, 2)
	port := sourcetest.FreePort(t)
	sourcetest.RTSPServer(t, port, dir, "--size", "640x480")
	out, errOut, code := vi(t, "run", "--model", model, "--ort-lib", ortLib, "--source", "rtsp://127.0.0.1:"+strconv.Itoa(port)+"/cam", "--frames", "6")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d results, want 6 (--frames 6):\n%s", len(lines), out)
	}
	for _, l := range lines {
		var r infer.Result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Error != "" || r.Image.Width != 640 || r.Image.Height != 480 || !strings.HasPrefix(r.Image.Name, "frame-") {
			t.Errorf("result %+v, want a 640x480 camera frame", r.Image)
		}
	}
}

// A corrupt frame in an MJPEG stream yields a result with an error (and a
// reject verdict: the part was not inspected); the next frame is fine.
func TestRunCorruptFrame(t *testing.T) {
	needORT(t)
	sourcetest.NeedTools(t, false)
	t.Parallel()
	_, imgs := sourcetest.CameraImages(t, 2)
	corrupt := bytes.Clone(imgs[0])
	for i := len(corrupt) / 2; i < len(corrupt)/2+2000; i++ {
		corrupt[i] = 0x55
	}
	url := sourcetest.MJPEGServer(t, [][]byte{imgs[0], corrupt, imgs[1]}, 10)
	out, errOut, code := vi(t, "run", "--model", model, "--ort-lib", ortLib, "--source", url, "--frames", "6")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var results []infer.Result
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r infer.Result
		json.Unmarshal([]byte(l), &r)
		results = append(results, r)
	}
	bad := -1
	for i, r := range results {
		if r.Error != "" {
			bad = i
			break
		}
	}
	if bad < 0 || bad+1 >= len(results) {
		t.Fatalf("want a result with an error followed by another; got %d results, error at %d:\n%s", len(results), bad, out)
	}
	if !strings.Contains(results[bad].Error, "not a usable image") || results[bad+1].Error != "" || results[bad+1].Image.Width == 0 {
		t.Errorf("corrupt frame's result %q, next %+v", results[bad].Error, results[bad+1].Image)
	}
}

// A camera that refuses leaves the component running and its status
// degraded with the reason, which the agent forwards.
func TestRunCameraDownIsDegraded(t *testing.T) {
	needORT(t)
	sourcetest.NeedTools(t, false)
	t.Parallel()
	b := startBroker(t)
	url := "rtsp://127.0.0.1:" + strconv.Itoa(sourcetest.FreePort(t)) + "/cam"
	b.component(t, "cam", map[string]any{"source": url, "reconnect_max": "200ms"})
	poll(t, "a degraded status", func() bool {
		st := b.lastStatus(t, "cam")
		return st.State == stateDegraded && st.Source != nil && st.Source.Reconnects >= 2
	})
	if st := b.lastStatus(t, "cam"); !st.Ready || !strings.Contains(st.Reason, "camera: camera lost") || !strings.Contains(st.Reason, "refused") {
		t.Errorf("status = %+v, want ready but degraded, naming the refused connection", st)
	}
}

// The model slower than the camera: the newest frame wins and the dropped
// ones are counted in the status.
func TestRunDropsOldFrames(t *testing.T) {
	needORT(t)
	sourcetest.NeedTools(t, false)
	t.Parallel()
	_, imgs := sourcetest.CameraImages(t, 3)
	url := sourcetest.MJPEGServer(t, imgs, 400)
	b := startBroker(t)
	b.component(t, "cam", map[string]any{"source": url})
	poll(t, "dropped frames in the status", func() bool {
		st := b.lastStatus(t, "cam")
		return st.FramesDropped > 0 && st.Images > 0
	})
	st := b.lastStatus(t, "cam")
	if st.Source == nil || st.Source.Frames < st.Images+st.FramesDropped {
		t.Errorf("status %+v: camera frames should cover results plus dropped", st)
	}
}

// A trigger takes one frame; its part id reaches the result and the
// verdict, and a down Modbus output makes the status degraded without
// stopping inference.
func TestRunTriggeredWithVerdicts(t *testing.T) {
	needORT(t)
	sourcetest.NeedTools(t, false)
	t.Parallel()
	_, imgs := sourcetest.CameraImages(t, 2)
	url := sourcetest.MJPEGServer(t, imgs, 20)
	b := startBroker(t)
	plc := "tcp://127.0.0.1:" + strconv.Itoa(sourcetest.FreePort(t))
	b.component(t, "cam", map[string]any{"source": url, "trigger": "software",
		"reject_when": map[string]any{"min_confidence": 0.0},
		"outputs":     []map[string]any{{"type": "mqtt", "on": "all"}, {"type": "modbus", "url": plc, "coil": 1, "timeout": "200ms"}}})
	poll(t, "the component subscribed", func() bool { return len(b.got("status/cam")) > 0 })
	want := []string{"P-1", "P-2", "P-3"}
	for _, id := range want {
		b.srv.Publish("trigger/cam", []byte(`{"part_id": "`+id+`"}`), false, 1)
		poll(t, "the result of "+id, func() bool { return len(b.got("results/cam")) >= 1+slicesIndex(want, id) })
	}
	var got, gotV []string
	for _, m := range b.got("results/cam") {
		var r infer.Result
		json.Unmarshal(m, &r)
		got = append(got, r.PartID)
	}
	poll(t, "three verdicts", func() bool { return len(b.got("verdicts/cam")) >= 3 })
	for _, m := range b.got("verdicts/cam") {
		var v verdict.Verdict
		json.Unmarshal(m, &v)
		gotV = append(gotV, v.PartID)
	}
	if strings.Join(got, ",") != "P-1,P-2,P-3" || strings.Join(gotV, ",") != "P-1,P-2,P-3" {
		t.Errorf("part ids in results %q, in verdicts %q; want one frame per trigger, in order", got, gotV)
	}
	poll(t, "the modbus output reported down", func() bool {
		st := b.lastStatus(t, "cam")
		return st.State == stateDegraded && strings.Contains(st.Reason, "output modbus-2")
	})
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestRunLineConfigRefused(t *testing.T) {
	needORT(t)
	tests := []struct {
		name, cfg, want string
		env             []string
	}{
		{"unknown class", `{"source": "/tmp", "reject_when": {"classes": ["crack"]}}`, `class "crack" is not one the model detects`, nil},
		{"unknown field", `{"source": "/tmp", "reject_when": {"min_conf": 0.5}}`, `unknown field "min_conf"`, nil},
		{"unknown output field", `{"source": "/tmp", "outputs": [{"type": "modbus", "url": "tcp://x:502", "coill": 3}]}`, `unknown field "coill"`, nil},
		{"ffmpeg missing", `{"source": "rtsp://127.0.0.1:1/cam"}`, "install the Debian package ffmpeg", []string{"PATH=/nonexistent"}},
		{"trigger on a watched folder", `{"source": "/tmp", "trigger": "software"}`, "trigger software needs a camera", nil},
		// The device's own source is the one checked (and used).
		{"source by device", `{"source": "/tmp", "source_by_device": {"line-3-cam-1": "ftp://cam/x"}}`, `unknown scheme "ftp"`, []string{"VISE_DEVICE=line-3-cam-1"}},
		{"metrics address unusable", `{"source": "/tmp", "metrics": "127.0.0.1:99999"}`, "metrics listener", nil},
		{"outputs by device", `{"source": "/tmp", "outputs": [], "outputs_by_device": {"line-3-cam-1": [{"type": "modbus", "url": "tcp://x:502", "coill": 3}]}}`,
			`unknown field "coill"`, []string{"VISE_DEVICE=line-3-cam-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.json")
			os.WriteFile(cfg, []byte(tc.cfg), 0o644)
			cmd := exec.Command(bin, "run", "--model", model, "--ort-lib", ortLib)
			cmd.Env = append(append(os.Environ(), "VISE_IPC=", "VISE_CONFIG="+cfg), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("err %v, output %s; want a refusal naming %q", err, out, tc.want)
			}
		})
	}
}

// bench --signal modbus times frame arrival to the coil written on a real
// Modbus server and reports it next to the arrival-to-result baseline.
func TestBenchSignalModbus(t *testing.T) {
	needORT(t)
	imgs := t.TempDir()
	copyFile(t, filepath.Join(testdata, "tag-a.jpg"), filepath.Join(imgs, "a.jpg"))
	out, errOut, code := vi(t, "bench", "--signal", "modbus", "--model", model, "--images", imgs, "--ort-lib", ortLib,
		"--frames", "20", "--frame-size", "640x360", "-o", "json")
	if code != 0 {
		t.Fatalf("bench --signal: exit %d: %s", code, errOut)
	}
	var r SignalReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The coil is written after the result exists, so its latency is the
	// larger one; both must have been measured.
	if r.Frames != 20 || r.FrameSize != "640x360" || r.ResultP50MS <= 0 || r.SignalP50MS < r.ResultP50MS || r.SignalP99MS < r.SignalP50MS || r.Ratio < 1 {
		t.Errorf("report = %+v", r)
	}
}

// An aravis:// camera (Aravis's simulated GigE Vision camera) is a source
// like any other; its settings come from the configuration.
func TestRunAravisCamera(t *testing.T) {
	needORT(t)
	aravistest.FakeCamera(t)
	cfg := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfg, []byte(`{"camera": {"pixel_format": "BayerRG8", "frame_rate": 20, "exposure_us": 1000}}`), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--model", model, "--ort-lib", ortLib, "--source", "aravis://127.0.0.1", "--frames", "3", "--upload", "all")
	cmd.Env = append(os.Environ(), "VISE_IPC=", "VISE_CONFIG="+cfg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d results, want 3:\n%.2000s", len(lines), out)
	}
	for _, l := range lines {
		var r infer.Result
		json.Unmarshal([]byte(l), &r)
		if r.Error != "" || r.Image.Width == 0 || len(r.ImageData) < 100 || !bytes.HasPrefix(r.ImageData, []byte{0xFF, 0xD8}) {
			t.Errorf("result %+v error %q with %d image bytes; want a camera frame uploaded as JPEG", r.Image, r.Error, len(r.ImageData))
		}
	}
}

// trigger camera with TriggerSource Software: each trigger message fires
// the camera once (Aravis's simulated camera, TriggerSoftware), its part
// id goes with the frame that comes back, and the camera sends nothing
// else.
func TestRunAravisCameraTrigger(t *testing.T) {
	needORT(t)
	aravistest.FakeCamera(t)
	b := startBroker(t)
	b.component(t, "cam", map[string]any{"source": "aravis://127.0.0.1", "trigger": "camera", "stall_timeout": "1s",
		"camera": map[string]any{"trigger_source": "Software", "pixel_format": "Mono8"}})
	poll(t, "the component subscribed", func() bool { return len(b.got("status/cam")) > 0 })
	parts := func() []string {
		var ids []string
		for _, m := range b.got("results/cam") {
			var r infer.Result
			json.Unmarshal(m, &r)
			ids = append(ids, r.PartID)
		}
		return ids
	}
	b.srv.Publish("trigger/cam", []byte(`{"part_id": "P-1"}`), false, 1)
	poll(t, "the first triggered frame", func() bool { return len(parts()) >= 1 })
	for _, id := range []string{"P-2", "P-3", "P-4"} {
		b.srv.Publish("trigger/cam", []byte(`{"part_id": "`+id+`"}`), false, 1)
	}
	poll(t, "four results", func() bool { return len(parts()) >= 4 })
	poll(t, "a status counting them", func() bool { return b.lastStatus(t, "cam").Images >= 4 })
	st := b.lastStatus(t, "cam")
	if got := strings.Join(parts(), ","); got != "P-1,P-2,P-3,P-4" || st.Source == nil || st.Source.Frames != 4 || st.FramesDropped != 0 {
		t.Errorf("part ids %q, status %+v; want one camera frame per trigger, in order", got, st)
	}
}
