package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

// The whole loop on one machine: the model, the ONNX Runtime library and
// vise-infer deployed as three signed components; the agent runs vise-infer
// on a simulated camera folder; results carrying the model's digest come
// back to the server.
func TestInspectionLoop(t *testing.T) {
	lib := ortLib(t)
	e := startServer(t)
	model := sample(t, "sample-tiny.onnx")
	e.write("model.yaml", "name: vise.model.metal-tags\nversion: 1.0.0\nartifacts:\n  - {name: model.onnx, file: "+model+"}\n")
	e.ok("component", "create", "-f", filepath.Join(e.workdir, "model.yaml"))
	e.inspectComponents(lib, "^1", "200ms")
	e.startAgent("cam-1", "")
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect")); st.State != vise.DeviceRunning {
		t.Fatalf("inspection deployment: %+v", st)
	}
	var rs []vise.Result
	e.waitFor("inspection results", 60*time.Second, func() bool {
		rs = e.results("cam-1")
		return len(rs) >= 3
	})
	var mv struct{ Recipe vise.Recipe }
	json.Unmarshal([]byte(e.ok("component", "show", "vise.model.metal-tags", "1.0.0", "-o", "json")), &mv)
	for _, r := range rs {
		var p struct {
			Schema int
			Model  struct{ SHA256 string }
			Image  struct {
				Name  string
				Width int
			}
			Error string
		}
		json.Unmarshal(r.Payload, &p)
		if img := resultImage(t, e, r.Device, r.MsgID); !bytes.HasPrefix(img, []byte{0xff, 0xd8}) {
			t.Errorf("result %s: attached image is not the JPEG (%d bytes)", r.MsgID, len(img))
		}
		if p.Schema != 1 || p.Model.SHA256 != mv.Recipe.Artifacts[0].SHA256 || !strings.HasPrefix(p.Image.Name, "tag-") || p.Image.Width != 450 || p.Error != "" {
			t.Errorf("result %s = %s", r.MsgID, r.Payload)
		}
	}
}

// ortLib is the ONNX Runtime library the tests deploy, or a skip saying
// how to get it.
func ortLib(t *testing.T) string {
	t.Helper()
	lib := os.Getenv("VISE_ORT_LIB")
	if lib == "" {
		if os.Getenv("VISE_REQUIRE_ORT") != "" {
			t.Fatal("VISE_REQUIRE_ORT is set but VISE_ORT_LIB is not")
		}
		t.Skip("VISE_ORT_LIB is not set (make test fetches ONNX Runtime into .cache/onnxruntime)")
	}
	return lib
}

// inspectComponents creates the ONNX Runtime and vise.inspect 1.0.0
// components: vise-infer, built here, replaying two tag photos as a camera
// with the model vise.model.metal-tags of version range modelDep.
func (e *env) inspectComponents(lib, modelDep, interval string) {
	e.t.Helper()
	inferBin := buildInfer(e.t)
	camera := filepath.Join(e.t.TempDir(), "camera")
	for _, n := range []string{"tag-a.jpg", "tag-b.jpg"} {
		b, _ := os.ReadFile(filepath.Join("../../infer/testdata", n))
		os.MkdirAll(camera, 0o755)
		os.WriteFile(filepath.Join(camera, n), b, 0o644)
	}
	e.write("runtime.yaml", "name: vise.runtime.onnxruntime\nversion: 1.30.0\nartifacts:\n  - {name: libonnxruntime.so.1, file: "+lib+"}\n")
	e.write("inspect.yaml", `name: vise.inspect
version: 1.0.0
artifacts:
  - {name: bin/vise-infer, file: `+inferBin+`, executable: true}
dependencies:
  vise.model.metal-tags: {version: "`+modelDep+`"}
  vise.runtime.onnxruntime: {version: "~1.30"}
lifecycle:
  run:
    script: >-
      exec ./artifacts/bin/vise-infer run
      --model "$VISE_DEP_VISE_MODEL_METAL_TAGS_ARTIFACTS/model.onnx"
      --ort-lib "$VISE_DEP_VISE_RUNTIME_ONNXRUNTIME_ARTIFACTS/libonnxruntime.so.1"
configuration:
  source: `+camera+`
  replay: true
  interval: `+interval+`
  confidence: 0.01
  upload: all
`)
	for _, f := range []string{"runtime.yaml", "inspect.yaml"} {
		e.ok("component", "create", "-f", filepath.Join(e.workdir, f))
	}
}

// buildInfer builds vise-infer (cgo) into a temporary directory.
func buildInfer(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vise-infer")
	build := exec.Command("go", "build", "-o", bin, "../vise-infer")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build vise-infer: %v\n%s", err, out)
	}
	return bin
}

// resultImage fetches the image attached to a result through the API.
func resultImage(t *testing.T, e *env, device, msgID string) []byte {
	t.Helper()
	tok, _ := os.ReadFile(filepath.Join(e.data, "admin.token"))
	req, _ := http.NewRequest(http.MethodGet, e.server+"/v1/results/"+device+"/"+msgID+"/image", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("GET image of %s: %d %s", msgID, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return b
}
