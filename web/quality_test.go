package web_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vise-edge/vise"
)

// The Inspection page plots a device's model-quality windows with uPlot
// and shows a drift marker recorded for it, in a real Chromium.
func TestInspectionShowsDriftMarker(t *testing.T) {
	s, c := startServer(t)
	ctx := context.Background()
	if _, err := s.Store.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
		t.Fatal(err)
	}
	sha := fmt.Sprintf("%064x", 7)
	var rs []vise.Result
	for i := range 40 {
		top := 0.9
		r := vise.Result{MsgID: "q-" + strconv.Itoa(i), Device: "cam-1", Component: "vise.inspect", Payload: []byte(`{}`), ModelSHA256: sha}
		if i%4 == 0 {
			r.Defects, r.TopConfidence = 1, &top
		}
		rs = append(rs, r)
	}
	if _, err := s.Store.InsertResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
	drift := vise.QualityDrift{Device: "cam-1", Model: "metal-tags@3", SHA256: sha, At: time.Now(),
		Departed: []string{"defect_rate 0.600 vs baseline 0.100 (margin 0.150)"}}
	if err := s.Store.RecordEvent(ctx, vise.EventQualityDrift, "cam-1", drift); err != nil {
		t.Fatal(err)
	}
	addUser(t, c, "vic", "viewer", "viewer password")
	p := newPage(t, s.URL())
	p.do(chromedp.Navigate(p.url+"/login?next=/inspection"),
		chromedp.SendKeys(chromedp.ID("user"), "vic"), chromedp.SendKeys(chromedp.ID("password"), "viewer password"),
		chromedp.Click(chromedp.ID("login")))
	p.until("the model-quality chart of cam-1", `document.querySelector('section.quality[data-device="cam-1"][data-loaded="1"] .uplot canvas')`)
	var marker string
	p.eval(`document.querySelector('section.quality[data-device="cam-1"] li.drift-marker').textContent`, &marker)
	if want := "metal-tags@3 drift: defect_rate 0.600 vs baseline 0.100"; !contains(marker, want) {
		t.Errorf("drift marker %q; want it to say %q", marker, want)
	}
	var baseline string
	p.eval(`document.querySelector('section.quality[data-device="cam-1"] .baseline').textContent`, &baseline)
	if !contains(baseline, "no baseline — the registry does not know this model") {
		t.Errorf("baseline line %q; want it to say why there is none", baseline)
	}
	p.screenshot("inspection-quality")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
