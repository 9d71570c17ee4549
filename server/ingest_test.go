package server_test

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"image"
	"image/jpeg"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
