package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (e *env) results(device string) []vise.Result {
	e.t.Helper()
	out, _, code := e.vise("results", "--device", device, "--limit", "1000", "-o", "json")
	var rs []vise.Result
	if code == 0 {
		json.Unmarshal([]byte(out), &rs)
	}
	return rs
}

// A component publishes results (each twice) on the local IPC endpoint; they
// reach the server exactly once, and results produced while the server is
// down are queued on the device and delivered, in full, when it is back.
func TestResultsStoreAndForward(t *testing.T) {
	data := t.TempDir()
	listen, devListen, mqttListen := freeAddr(t), freeAddr(t), freeAddr(t)
	e, srv := startServerOn(t, data, listen, devListen, mqttListen)
	script := fmt.Sprintf(`#!/bin/sh
%[1]s ipc publish status '{"ready": true}'
%[1]s ipc publish results '{"msg_id":"bad-image","image_data":"aGVsbG8sIG5vdCBhbiBpbWFnZQ=="}'
%[1]s ipc publish results 'not json at all'
i=0
while true; do
  i=$((i+1))
  msg="{\"schema\":1,\"msg_id\":\"r-$i\",\"detections\":[{\"class\":\"scratch\",\"confidence\":0.9}]}"
  until %[1]s ipc publish results "$msg"; do sleep 0.2; done
  %[1]s ipc publish results "$msg"
  sleep 0.1
done
`, viseBin)
	e.component("vise.reporter", "1.0.0", script, "  run: {script: \"exec ./artifacts/run.sh\"}\n")
	a := e.startAgent("cam-1", "")
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.reporter")); st.State != vise.DeviceRunning {
		t.Fatalf("deployment: %+v", st)
	}
	e.waitFor("results to arrive", 30*time.Second, func() bool { return len(e.results("cam-1")) >= 5 })
	// The result whose "image" is not an image is kept without it, marked
	// so and counted: a bad attachment loses the image, never the result.
	if m := metric(t, e, `vise_result_images_total{outcome="not_an_image"}`); m != 1 {
		t.Errorf("images refused as not an image = %v, want 1", m)
	}

	// The server goes away; the component keeps producing.
	srv.Process.Signal(os.Interrupt)
	srv.Wait()
	time.Sleep(2 * time.Second) // an outage of a couple of seconds, during which results queue up
	e2, _ := startServerOn(t, data, listen, devListen, mqttListen)
	e2.workdir = e.workdir

	var rs []vise.Result
	e2.waitFor("queued results to be delivered", 60*time.Second, func() bool {
		rs = e2.results("cam-1")
		return len(rs) >= 25
	})
	seen := map[int]bool{}
	max := 0
	badImage := false
	for _, r := range rs {
		if r.MsgID == "bad-image" {
			badImage = true
			var p struct {
				Image struct {
					NotStored string `json:"not_stored"`
				} `json:"image"`
				ImageData *string `json:"image_data"`
			}
			json.Unmarshal(r.Payload, &p)
			if p.Image.NotStored != "image_data is not a JPEG or PNG image" || p.ImageData != nil {
				t.Errorf("the result with a bad image is stored as %s; want it without the image, marked not_stored", r.Payload)
			}
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(r.MsgID, "r-"))
		if err != nil || seen[n] {
			t.Fatalf("unexpected or duplicate result id %q", r.MsgID)
		}
		seen[n] = true
		max = maxInt(max, n)
		if r.Device != "cam-1" || r.Component != "vise.reporter" || r.Defects != 1 {
			t.Errorf("result %s = %+v", r.MsgID, r)
		}
	}
	if !badImage {
		t.Error("the result whose attached image is not an image was lost")
	}
	// Everything up to the newest stored id arrived, in order: nothing was
	// lost in the outage.
	for i := 1; i <= max; i++ {
		if !seen[i] {
			t.Errorf("result r-%d was lost (newest stored r-%d)", i, max)
		}
	}
	if m := metric(t, e2, `vise_results_total{outcome="duplicate"}`); m < 1 {
		t.Errorf("no duplicates were refused (%v); the component sends each result twice", m)
	}
	_ = a
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
