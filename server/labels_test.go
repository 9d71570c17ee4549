package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/ingest"
	"github.com/vise-edge/vise/store"
)

// The labelling API's doors: viewers read, labeller and admin tokens save,
// list limits and filters are checked.
func TestLabelsAPI(t *testing.T) {
	s, _ := start(t, store.SQLite)
	jpeg, err := os.ReadFile("../samples/images/image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(infer.Result{Schema: 1, MsgID: "m-1", Image: infer.ImageRef{Width: 450, Height: 300}, ImageData: jpeg})
	if err := ingest.New(ingest.Options{Context: ctx, Store: s.Store, Blobs: s.Blobs}).Result("vise/devices/cam-1/inference/vise.inspect", b); err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]string{"viewer-1": "viewer", "labeller-1": "labeller"} {
		if _, err := s.Store.CreateToken(ctx, name, role, hashToken(name+"-secret")); err != nil {
			t.Fatal(err)
		}
	}
	save := `{"version": 0, "state": "labelled", "boxes": []}`
	for _, c := range []struct {
		token, method, path, body string
		code                      vise.Code
		says                      string
	}{
		{"viewer-1-secret", "GET", "/v1/labels?limit=10", "", "", ""},
		{"viewer-1-secret", "GET", "/v1/labels/cam-1/m-1", "", "", ""},
		{"viewer-1-secret", "PUT", "/v1/labels/cam-1/m-1", save, vise.CodeForbidden, "labelling needs a labeller or admin"},
		{"viewer-1-secret", "GET", "/v1/labels?limit=0", "", vise.CodeInvalid, "limit 0 is out of range"},
		{"viewer-1-secret", "GET", "/v1/labels?limit=10001", "", vise.CodeInvalid, "out of range"},
		{"viewer-1-secret", "GET", "/v1/labels?reason=odd", "", vise.CodeInvalid, `unknown reason "odd"`},
		{"viewer-1-secret", "GET", "/v1/labels?state=done", "", vise.CodeInvalid, `unknown state "done"`},
		{"viewer-1-secret", "GET", "/v1/labels/cam-1/m-2", "", vise.CodeNotFound, "no image m-2"},
		{"labeller-1-secret", "PUT", "/v1/labels/cam-1/m-1", `{"version": 0, "state": "labelled", "box": []}`, vise.CodeInvalid, "unknown field"},
		{"labeller-1-secret", "PUT", "/v1/labels/cam-1/m-1", save, "", ""},
		{s.AdminToken(), "PUT", "/v1/labels/cam-1/m-1", save, vise.CodeConflict, "saved by labeller-1"},
	} {
		got := rawJSON(t, s, c.token, c.method, c.path, c.body)
		if got.Error.Code != c.code || !strings.Contains(got.Error.Message, c.says) {
			t.Errorf("%s %s: %q %q, want %q saying %q", c.method, c.path, got.Error.Code, got.Error.Message, c.code, c.says)
		}
	}
	req, _ := http.NewRequest("GET", s.URL()+"/v1/labels/cam-1/m-1", nil)
	req.Header.Set("Authorization", "Bearer viewer-1-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if etag := resp.Header.Get("ETag"); etag != `"1"` {
		t.Errorf("ETag %q, want the label version \"1\"", etag)
	}
}
