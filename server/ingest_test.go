package server_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"fmt"
	"image"
	"image/jpeg"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/store"
)

func jpegBase64(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// While the database is locked a result is not acknowledged (PUBACK 0x83:
// the device keeps it); once the lock is gone the same message is taken.
func TestResultNotAcknowledgedWhileDatabaseLocked(t *testing.T) {
	s, c := start(t, store.SQLite)
	dir := enrollOnly(t, s, c, "cam-1")
	cam := deviceClient(t, dir, s.MQTTAddr(), "cam-1")
	db, err := sql.Open("sqlite", filepath.Join(s.DataDir(), "vise.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	msg := `{"schema":1,"msg_id":"while-locked","detections":[]}`
	err = publishQoS1(cam, "vise/devices/cam-1/inference/vise.inspect", msg)
	if err == nil || !strings.Contains(err.Error(), "not willing to accept") {
		t.Errorf("publish while the database is locked: %v; want PUBACK 0x83 (not stored now; send it again)", err)
	}
	conn.ExecContext(ctx, "ROLLBACK")
	conn.Close()
	if err := publishQoS1(cam, "vise/devices/cam-1/inference/vise.inspect", msg); err != nil {
		t.Fatalf("publish after the lock: %v", err)
	}
	if rs := resultsOf(t, c, "cam-1"); len(rs) != 1 || rs[0].MsgID != "while-locked" {
		t.Errorf("results after the lock = %+v", rs)
	}
}

// A blob store that refuses writes (the directory mounted read-only) loses
// the image, never the result: it is stored without it, marked not_stored,
// and counted.
func TestResultKeptWhenBlobStoreReadOnly(t *testing.T) {
	s, c := start(t, store.SQLite)
	dir := enrollOnly(t, s, c, "cam-1")
	cam := deviceClient(t, dir, s.MQTTAddr(), "cam-1")
	blobs := filepath.Join(s.DataDir(), "blobs")
	// Root ignores file modes, so read-only takes a read-only bind mount.
	if out, err := exec.Command("mount", "--bind", blobs, blobs).CombinedOutput(); err != nil {
		t.Skipf("making the blob directory read-only needs a bind mount (root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", blobs).Run() })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", blobs).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
	img := jpegBase64(t)
	for i, id := range []string{"defect-1", "defect-2"} {
		msg := `{"schema":1,"msg_id":"` + id + `","image":{"name":"tag.jpg"},"detections":[{"class":"scratch"}],"image_data":"` + img + `"}`
		if err := publishQoS1(cam, "vise/devices/cam-1/inference/vise.inspect", msg); err != nil {
			t.Fatalf("result %d with an image, blob store read-only: %v", i, err)
		}
	}
	rs := resultsOf(t, c, "cam-1")
	if len(rs) != 2 {
		t.Fatalf("%d results stored, want both", len(rs))
	}
	for _, r := range rs {
		if !strings.Contains(string(r.Payload), `"not_stored":"the blob store refused it"`) || r.Defects != 1 {
			t.Errorf("result %s = %s; want it marked not_stored, with its detection", r.MsgID, r.Payload)
		}
	}
	if n := scrape(t, s, `vise_result_images_total{outcome="blob_store_refused"}`); n != 2 {
		t.Errorf("images refused by the blob store counted %v, want 2", n)
	}
}

// A device that floods results is held to its own rate: past its burst it
// is answered "quota exceeded" (PUBACK 0x97; it sends them again later)
// while another device's results are all taken.
func TestFloodingDeviceHeldToItsRate(t *testing.T) {
	cfg := server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0", DataDir: t.TempDir(),
		DeviceResultRate: 0.001, DeviceResultBurst: 3} // no refill within the test
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := client.New(s.URL(), s.AdminToken())
	flood := deviceClient(t, enrollOnly(t, s, c, "cam-flood"), s.MQTTAddr(), "cam-flood")
	calm := deviceClient(t, enrollOnly(t, s, c, "cam-calm"), s.MQTTAddr(), "cam-calm")
	quota := 0
	for i := range 10 {
		err := publishQoS1(flood, "vise/devices/cam-flood/inference/vise.inspect", fmt.Sprintf(`{"schema":1,"msg_id":"f-%d"}`, i))
		switch {
		case err == nil && i < 3:
		case err != nil && i >= 3 && strings.Contains(err.Error(), "limit has been exceeded"): // paho's text for 0x97
			quota++
		default:
			t.Errorf("flooding device's result %d: %v", i, err)
		}
	}
	for i := range 3 {
		if err := publishQoS1(calm, "vise/devices/cam-calm/inference/vise.inspect", fmt.Sprintf(`{"schema":1,"msg_id":"c-%d"}`, i)); err != nil {
			t.Errorf("the other device's result %d: %v", i, err)
		}
	}
	if quota != 7 || len(resultsOf(t, c, "cam-flood")) != 3 || len(resultsOf(t, c, "cam-calm")) != 3 {
		t.Errorf("%d answered quota exceeded (want 7); stored %d of cam-flood, %d of cam-calm (want 3 each)", quota, len(resultsOf(t, c, "cam-flood")), len(resultsOf(t, c, "cam-calm")))
	}
	if n := scrape(t, s, `vise_results_total{outcome="over_quota"}`); n != 7 {
		t.Errorf("over_quota counted %v, want 7", n)
	}
}
