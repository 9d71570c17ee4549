package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/ingest"
	"github.com/vise-edge/vise/server"
)

const labelModelSHA = "00000000000000000000000000000000000000000000000000000000000000aa"

// labellingServer is a server with a registered model of two classes and
// five results with the tag photograph attached, taken in through the
// server's own stores by the real ingester: in queue order r-b
// (uncertain), r-a (defect, two boxes), then the samples r-e, r-d, r-c.
func labellingServer(t *testing.T) (*server.Server, *client.Client) {
	t.Helper()
	s, c := startServer(t)
	ctx := context.Background()
	model := vise.Artifact{SHA256: labelModelSHA, Size: 1}
	if err := s.Store.PutArtifact(ctx, model); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store.CreateModelVersion(ctx, vise.ModelVersion{Group: "metal-tags", Artifact: model, Format: "onnx",
		ClassNames: []string{"scratch", "dent"}, Approval: vise.Approval{Status: vise.Approved}}); err != nil {
		t.Fatal(err)
	}
	jpeg, err := os.ReadFile("../samples/images/image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg") // 450x300
	if err != nil {
		t.Fatal(err)
	}
	in := ingest.New(ingest.Options{Context: ctx, Store: s.Store, Blobs: s.Blobs})
	det := func(conf, x, y, w, h float64) infer.Detection {
		return infer.Detection{Class: "scratch", Confidence: conf, Box: infer.Box{X: x, Y: y, Width: w, Height: h}}
	}
	for _, r := range []struct {
		id   string
		dets []infer.Detection
	}{
		{"r-a", []infer.Detection{det(0.9, 300, 40, 60, 50), det(0.85, 50, 200, 40, 30)}},
		{"r-b", []infer.Detection{det(0.4, 20, 20, 40, 40)}},
		{"r-c", nil}, {"r-d", nil}, {"r-e", nil},
	} {
		b, _ := json.Marshal(infer.Result{Schema: 1, MsgID: r.id, Model: infer.ModelRef{Name: "metal-tags", SHA256: labelModelSHA},
			Image: infer.ImageRef{Name: r.id + ".jpg", Width: 450, Height: 300}, Detections: r.dets, ImageData: jpeg})
		if err := in.Result("vise/devices/cam-1/inference/vise.inspect", b); err != nil {
			t.Fatal(err)
		}
	}
	return s, c
}

// A labeller draws, re-classes, resizes by a corner and deletes boxes with
// the mouse and keys in a real Chromium; accepts, marks no defect, skips,
// goes back and forth; and is told who saved first on a conflict. What is
// stored is read back through the API.
func TestLabellingInBrowser(t *testing.T) {
	s, c := labellingServer(t)
	ctx := context.Background()
	addUser(t, c, "lena", "labeller", "labeller password")
	p := newPage(t, s.URL())
	p.login("lena", "labeller password")

	// r-b, uncertain, comes first, starting from its one pre-label.
	p.shown("cam-1/r-b@0")
	if got := p.boxes(); len(got) != 1 || got[0].X != 20 || got[0].Width != 40 {
		t.Fatalf("r-b starts with %+v, want its pre-label", got)
	}
	p.drag(100, 100, 200, 160) // a new box
	p.key("2")                 // of the second class, dent
	p.drag(200, 160, 240, 200) // its bottom-right corner pulled out
	p.drag(150, 150, 160, 155) // the whole box moved by its middle
	p.screenshot("labelling")
	p.drag(30, 30, 30, 30) // a click on the pre-label selects it
	p.key(kb.Delete)       // and Delete removes it
	want := []vise.LabelBox{{Class: "dent", X: 110, Y: 105, Width: 140, Height: 100}}
	if got := p.boxes(); len(got) != 1 || got[0].X != 110 || got[0].Y != 105 || got[0].Width != 140 || got[0].Height != 100 {
		t.Errorf("boxes on the page before saving: %+v, want %+v", got, want)
	}
	p.key(kb.Enter)
	p.shown("cam-1/r-a@0") // saved, and on to the next
	im, err := c.Label(ctx, "cam-1", "r-b")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, im.Boxes); diff != "" || im.State != vise.LabelLabelled || im.LabelledBy != "lena" || im.Version != 1 {
		t.Errorf("r-b stored %s by %s v%d, boxes (-want +got):\n%s", im.State, im.LabelledBy, im.Version, diff)
	}

	p.key("a") // r-a: the model's two boxes as they are
	p.shown("cam-1/r-e@0")
	p.key("n") // r-e: no defect
	p.shown("cam-1/r-d@0")
	p.key("s") // r-d: skipped
	p.shown("cam-1/r-c@0")
	p.key(kb.ArrowLeft)
	p.shown("cam-1/r-d@1") // back: r-d, skipped at version 1
	p.key(kb.ArrowRight)
	p.shown("cam-1/r-c@0")
	got := map[string]string{}
	for _, id := range []string{"r-a", "r-e", "r-d", "r-c"} {
		im, err := c.Label(ctx, "cam-1", id)
		if err != nil {
			t.Fatal(err)
		}
		got[id] = fmt.Sprintf("%s %d boxes v%d %s", im.State, len(im.Boxes), im.Version, im.LabelledBy)
		if id == "r-a" && !cmp.Equal(im.Boxes, stripConfidence(im.Prelabels)) {
			t.Errorf("r-a accepted: %+v, want its pre-labels %+v", im.Boxes, im.Prelabels)
		}
	}
	wantStates := map[string]string{"r-a": "labelled 2 boxes v1 lena", "r-e": "labelled 0 boxes v1 lena", "r-d": "skipped 0 boxes v1 lena", "r-c": "new 0 boxes v0 "}
	if diff := cmp.Diff(wantStates, got); diff != "" {
		t.Errorf("stored labels (-want +got):\n%s", diff)
	}

	// Someone else saves r-c while it is open here: this save is refused
	// and the page says who came first; nothing of it is stored.
	if _, err := c.SaveLabel(ctx, "cam-1", "r-c", vise.SaveLabelRequest{Version: 0, State: vise.LabelSkipped}); err != nil {
		t.Fatal(err)
	}
	p.key("n")
	p.until("the conflict on the page", `/saved by admin .*version 1.* after you opened it/.test(document.getElementById("status").textContent)`)
	if im, _ := c.Label(ctx, "cam-1", "r-c"); im.State != vise.LabelSkipped || im.LabelledBy != "admin" {
		t.Errorf("r-c after the refused save: %s by %s", im.State, im.LabelledBy)
	}

	// A viewer sees the queue with its buttons off; a key is refused.
	addUser(t, c, "vic", "viewer", "viewer password")
	p.do(chromedp.Navigate(s.URL() + "/logout"))
	p.login("vic", "viewer password")
	p.do(chromedp.Navigate(s.URL() + "/labelling?state="))
	p.shown("cam-1/r-b@1")
	var disabled bool
	p.eval(`Array.from(document.querySelectorAll("button.edit")).every(function(b){return b.disabled})`, &disabled)
	if !disabled {
		t.Error("the viewer's editing buttons are enabled")
	}
	p.key("n")
	p.until("the refusal on the page", `/labelling needs a labeller or admin/.test(document.getElementById("status").textContent)`)
	if im, _ := c.Label(ctx, "cam-1", "r-b"); im.Version != 1 || im.LabelledBy != "lena" {
		t.Errorf("r-b after the viewer's key: v%d by %s", im.Version, im.LabelledBy)
	}

	// Retention takes the results while the page is open: the next image
	// says so, and no key acts on the one before it.
	if _, err := s.Store.PruneResults(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p.key(kb.ArrowRight)
	p.until("the retention notice", `/deleted by retention/.test(document.getElementById("status").textContent) && !document.getElementById("labeller").dataset.loaded`)
}

func stripConfidence(bs []vise.LabelBox) []vise.LabelBox {
	out := make([]vise.LabelBox, len(bs))
	for i, b := range bs {
		b.Confidence = 0
		out[i] = b
	}
	return out
}

var csrfData = regexp.MustCompile(`data-csrf="([^"]+)"`)

// save posts a label from the dashboard as label.js does.
func (p *person) save(id string, req vise.SaveLabelRequest, csrf string) (int, string) {
	p.t.Helper()
	b, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, p.base+"/labelling/items/cam-1/"+id, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-CSRF-Token", csrf)
	resp, err := p.http.Do(r)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	return resp.StatusCode, body.String()
}

func (p *person) labellingPage() string {
	p.t.Helper()
	status, page := p.do(http.MethodGet, "/labelling", nil)
	m := csrfData.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		p.t.Fatalf("labelling page: %d, CSRF token found: %v", status, m != nil)
	}
	return m[1]
}

// Viewers look and may not save (403); labellers and admins save; the
// second of two labellers on one image is refused (409) naming the first;
// a save without the page's CSRF token is refused.
func TestLabellingRoles(t *testing.T) {
	s, c := labellingServer(t)
	addUser(t, c, "vic", "viewer", "viewer password")
	addUser(t, c, "lena", "labeller", "labeller password")
	addUser(t, c, "lara", "labeller", "labeller password")
	people, csrf := map[string]*person{}, map[string]string{}
	for name, password := range map[string]string{"vic": "viewer password", "lena": "labeller password", "lara": "labeller password"} {
		people[name] = newPerson(t, s.URL())
		people[name].login(name, password)
		csrf[name] = people[name].labellingPage()
	}
	_, page := people["vic"].do(http.MethodGet, "/labelling", nil)
	if !strings.Contains(page, "You are a viewer: you may look, not save.") || !strings.Contains(page, "5 images, uncertain first") {
		t.Errorf("the viewer's labelling page lacks the notice or the queue")
	}
	req := vise.SaveLabelRequest{State: vise.LabelLabelled, Boxes: []vise.LabelBox{{Class: "scratch", X: 1, Y: 1, Width: 10, Height: 10}}}
	if status, body := people["vic"].save("r-a", req, csrf["vic"]); status != http.StatusForbidden || !strings.Contains(body, "labelling needs a labeller or admin") {
		t.Errorf("viewer save: %d %s, want 403", status, body)
	}
	if status, body := people["lena"].save("r-a", req, "forged"); status != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("save without the page's CSRF token: %d %s, want 403", status, body)
	}
	if im, _ := c.Label(context.Background(), "cam-1", "r-a"); im.Version != 0 {
		t.Fatalf("a refused save was stored: %+v", im)
	}
	if status, body := people["lena"].save("r-a", req, csrf["lena"]); status != http.StatusOK {
		t.Fatalf("labeller save: %d %s", status, body)
	}
	status, body := people["lara"].save("r-a", vise.SaveLabelRequest{State: vise.LabelSkipped}, csrf["lara"])
	if status != http.StatusConflict || !strings.Contains(body, "saved by lena") {
		t.Errorf("second labeller: %d %s, want 409 naming lena", status, body)
	}
	if status, body := people["lena"].save("r-a", vise.SaveLabelRequest{Version: 1, State: vise.LabelLabelled,
		Boxes: []vise.LabelBox{{Class: "scratch", X: 400, Y: 1, Width: 60, Height: 10}}}, csrf["lena"]); status != http.StatusBadRequest || !strings.Contains(body, "outside the image") {
		t.Errorf("a box outside the image: %d %s, want 400", status, body)
	}
}
