package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/server"
)

// A device's model quality through the API: its windows, why there is no
// baseline, and refusals of an unknown device and a bad look-back.
func TestQualityAPI(t *testing.T) {
	s, c := start(t, "sqlite")
	if _, err := s.Store.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
		t.Fatal(err)
	}
	sha := fmt.Sprintf("%064x", 9)
	var rs []vise.Result
	for i := range 20 {
		r := vise.Result{MsgID: "r-" + strconv.Itoa(i), Device: "cam-1", Component: "vise.inspect", Payload: []byte(`{}`), ModelSHA256: sha}
		if i < 5 {
			top := 0.4
			r.Defects, r.TopConfidence = 1, &top
		}
		rs = append(rs, r)
	}
	if _, err := s.Store.InsertResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
	q, err := c.Quality(ctx, "cam-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Points) == 0 || q.Points[len(q.Points)-1].Frames != 20 || q.Points[len(q.Points)-1].DefectRate != 0.25 || q.Points[len(q.Points)-1].UncertainShare != 0.25 {
		t.Errorf("points %+v; want the last window to hold 20 frames, a quarter defects, a quarter uncertain", q.Points)
	}
	if len(q.Baselines) != 1 || !strings.Contains(q.Baselines[0].Missing, "registry does not know this model") {
		t.Errorf("baselines %+v; want one saying why there is none", q.Baselines)
	}
	_, err = c.Quality(ctx, "nope", time.Hour)
	wantCode(t, err, vise.CodeNotFound, "nope")
	if body := rawJSON(t, s, s.AdminToken(), "GET", "/v1/devices/cam-1/quality?since=lots", ""); body.Error.Code != vise.CodeInvalid || !strings.Contains(body.Error.Message, `since "lots": give a duration`) {
		t.Errorf("bad since: %+v", body)
	}
}

// Bad monitoring settings stop the server at start, naming the flag.
func TestQualitySettingsRefused(t *testing.T) {
	for _, tt := range []struct {
		cfg  server.Config
		want string
	}{
		{server.Config{QualityMargin: "defect_rate=2"}, "--quality-margin"},
		{server.Config{QualityWindow: time.Minute, QualityStep: time.Hour}, "longer than the window"},
	} {
		tt.cfg.DataDir, tt.cfg.Listen = t.TempDir(), "127.0.0.1:0"
		if _, err := server.New(ctx, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("server.New(%+v) = %v; want %q", tt.cfg, err, tt.want)
		}
	}
}
