package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simonvetter/modbus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
)

// demoLine is the demo's production line: a camera serving the sample
// images as a live MJPEG stream (what IP cameras serve at /video.mjpg),
// which demo-cam-1 reads instead of the folder, and a PLC (a Modbus TCP
// server) whose coil 0 the devices pulse on every reject.
type demoLine struct {
	CameraURL, PLCURL string
	pulses            atomic.Int64
	mu                sync.Mutex
	coil              bool
	cam               *http.Server
	plc               *modbus.ModbusServer
}

// demoCameraFPS is the demo camera's frame rate: faster than the sample
// model on a small machine, so dropped frames show.
const demoCameraFPS = 15

func startDemoLine(images, cameraListen, plcListen string) (*demoLine, error) {
	frames, err := demoFrames(images)
	if err != nil {
		return nil, err
	}
	l := &demoLine{}
	ln, err := net.Listen("tcp", cameraListen)
	if err != nil {
		return nil, vise.Errorf(vise.CodeUnavailable, "demo camera on %s: %w (pass --camera-listen)", cameraListen, err)
	}
	l.CameraURL = "http://" + ln.Addr().String() + "/video.mjpg"
	l.cam = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveMJPEG(w, r, frames) })}
	go l.cam.Serve(ln)
	// The Modbus server takes a URL, not a listener: find a port first.
	if strings.HasSuffix(plcListen, ":0") {
		probe, err := net.Listen("tcp", plcListen)
		if err != nil {
			l.Close()
			return nil, err
		}
		plcListen = probe.Addr().String()
		probe.Close()
	}
	l.PLCURL = "tcp://" + plcListen
	if l.plc, err = modbus.NewServer(&modbus.ServerConfiguration{URL: l.PLCURL, MaxClients: 16, Timeout: time.Hour}, l); err == nil {
		err = l.plc.Start()
	}
	if err != nil {
		l.Close()
		return nil, vise.Errorf(vise.CodeUnavailable, "demo PLC on %s: %w (pass --plc-listen)", plcListen, err)
	}
	return l, nil
}

func demoFrames(dir string) ([][]byte, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	sort.Strings(paths)
	var frames [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		frames = append(frames, b)
	}
	if len(frames) == 0 {
		return nil, vise.Errorf(vise.CodeInvalid, "no JPEG images in %s for the demo camera (pass --images)", dir)
	}
	return frames, nil
}

// serveMJPEG streams the frames in a loop as multipart/x-mixed-replace
// until the client goes.
func serveMJPEG(w http.ResponseWriter, r *http.Request, frames [][]byte) {
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=frame")
	tick := time.NewTicker(time.Second / demoCameraFPS)
	defer tick.Stop()
	for i := 0; ; i++ {
		f := frames[i%len(frames)]
		if _, err := fmt.Fprintf(w, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(f)); err != nil {
			return
		}
		if _, err := w.Write(append(f, '\r', '\n')); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// HandleCoils counts coil 0 going on: one reject pulse.
func (l *demoLine) HandleCoils(req *modbus.CoilsRequest) ([]bool, error) {
	if req.Addr != 0 || req.Quantity != 1 {
		return nil, modbus.ErrIllegalDataAddress
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if req.IsWrite {
		if req.Args[0] && !l.coil {
			l.pulses.Add(1)
		}
		l.coil = req.Args[0]
		return nil, nil
	}
	return []bool{l.coil}, nil
}

func (l *demoLine) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (l *demoLine) HandleHoldingRegisters(*modbus.HoldingRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (l *demoLine) HandleInputRegisters(*modbus.InputRegistersRequest) ([]uint16, error) {
	return nil, modbus.ErrIllegalFunction
}

func (l *demoLine) Close() {
	if l.cam != nil {
		l.cam.Close()
	}
	if l.plc != nil {
		l.plc.Stop()
	}
}

// configuration is what the inspection component gets for the line:
// demo-cam-1 reads the camera and pulses the PLC's coil on each reject
// (one coil is one device's signal: two devices pulsing it would merge
// their pulses); every device publishes its verdicts.
func (l *demoLine) configuration() map[string]any {
	mqtt := map[string]any{"type": "mqtt"}
	return map[string]any{
		"source_by_device": map[string]string{"demo-cam-1": l.CameraURL},
		"reject_when":      map[string]any{"min_confidence": 0.5},
		"outputs":          []map[string]any{mqtt},
		"outputs_by_device": map[string]any{"demo-cam-1": []map[string]any{
			{"type": "modbus", "url": l.PLCURL, "coil": 0, "pulse": "20ms", "gap": "20ms"}, mqtt}},
	}
}

// configVersion names a configuration in a component version, so a demo
// with other ports makes a new version rather than a conflict.
func configVersion(cfg map[string]any) string {
	b, _ := json.Marshal(cfg)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:8]
}

// lineSummary is each device's inspection rate, dropped frames and
// rejects (from its status), and the PLC's pulses: one per demo-cam-1
// reject, unless the line rejects faster than 25 a second (then the
// output's queue overflows and its status counts the rest undelivered).
func (l *demoLine) lineSummary(ctx context.Context, cl *client.Client, names []string) string {
	var parts []string
	for _, n := range names {
		d, err := cl.Device(ctx, n)
		if err != nil {
			continue
		}
		var st deviceapi.Status
		json.Unmarshal(d.Status, &st)
		if h, ok := st.Health["vise.inspect"]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f frames/s, %d dropped, %d rejects", n, h.FPS, h.FramesDropped, h.Rejects))
		}
	}
	return fmt.Sprintf("; line: %s; PLC reject pulses %d (from demo-cam-1)", strings.Join(parts, "; "), l.pulses.Load())
}
