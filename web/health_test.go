package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

// The fleet page shows a component that says it is degraded, with its
// reason, the frames it dropped and what it sent back, from the device's status report.
func TestFleetShowsComponentHealth(t *testing.T) {
	s, _ := startServer(t)
	ctx := context.Background()
	if _, err := s.Store.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "line-3-cam-1"}); err != nil {
		t.Fatal(err)
	}
	status := `{"generation":1,"components":{"vise.inspect":"RUNNING"},"health":{"vise.inspect":{"ready":true,"state":"degraded",` +
		`"reason":"camera: camera lost: ffmpeg: Connection refused","images":120,"fps":4.5,"frames_dropped":37,"rejects":9,` +
		`"send_back":{"defect":{"kept":12,"over_cap":3},"uncertain":{"kept":5,"over_cap":0},"sample":{"kept":1,"over_cap":0},"not_sampled":99}}}}`
	if err := s.Store.SetDeviceStatus(ctx, "line-3-cam-1", []byte(status), 1); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(s.URL()+"/login", url.Values{"token": {s.AdminToken()}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(s.URL() + "/fleet?fragment=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	want := `vise.inspect: 120 images (4.5/s), 37 frames dropped, 9 rejects; sent back: defect 12 kept (3 over cap), uncertain 5 kept, sample 1 kept, 99 not sampled — degraded: camera: camera lost: ffmpeg: Connection refused`
	if !strings.Contains(string(page), want) || !strings.Contains(string(page), `class="health bad"`) {
		t.Errorf("fleet page lacks %q marked bad:\n%s", want, page)
	}
}
