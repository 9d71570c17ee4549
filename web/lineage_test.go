package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

// The models page names the dataset version a model was trained on and
// the benchmark it was scored on.
func TestModelsShowDatasetLineage(t *testing.T) {
	s, _ := startServer(t)
	ctx := context.Background()
	f, err := os.Open("../samples/models/metal-tags.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	art, err := s.Registry.Upload(ctx, f, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	lineage := vise.Lineage{Dataset: "metal-tags@2", DatasetDigest: strings.Repeat("d", 64), Benchmark: "metal-tags-bench@1", TrainingRun: "01RUN"}
	if _, err := s.Registry.RegisterModel(ctx, "metal-tags", vise.RegisterModelRequest{SHA256: art.SHA256, Lineage: lineage}, "test"); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(s.URL()+"/login", url.Values{"token": {s.AdminToken()}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Get(s.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"dataset metal-tags@2", "benchmark metal-tags-bench@1", "run 01RUN"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("models page lacks %q:\n%s", want, page)
		}
	}
}
