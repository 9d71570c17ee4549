package main

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/blobs/s3test"
)

// The server on an S3 blob store (a real S3-protocol server on loopback):
// a component's artifact is uploaded into the bucket, a device downloads
// it through the server's device API and runs it; readiness follows the
// store, and says not ready once it is gone.
func TestServerOnS3(t *testing.T) {
	s3 := s3test.Start(t) // sets the credentials the server process inherits
	e, _ := startServerOn(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "--blobs", s3.URL())
	model, _ := filepath.Abs("../../samples/models/sample-tiny.onnx")
	os.WriteFile(filepath.Join(e.workdir, "model.yaml"), []byte("name: vise.model.tiny\nversion: 1.0.0\nartifacts:\n  - {name: model.onnx, file: "+model+"}\n"), 0o644)
	e.ok("component", "create", "-f", filepath.Join(e.workdir, "model.yaml"))
	e.component("vise.inspect", "1.0.0", "#!/bin/sh\ntest -f \"$VISE_DEP_VISE_MODEL_TINY_ARTIFACTS/model.onnx\" || exit 3\nexec sleep 600\n",
		"  run: {script: \"exec ./artifacts/run.sh\"}\n", "dependencies:\n  vise.model.tiny: {version: \"^1\"}\n")
	b, _ := os.ReadFile(model)
	sum := fmt.Sprintf("%x", sha256.Sum256(b))
	if keys := s3.Keys(t); !slices.Contains(keys, blobs.Key(sum)) {
		t.Errorf("bucket keys %v lack the model %s", keys, blobs.Key(sum))
	}

	e.startAgent("cam-1", "")
	st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect"))
	if st.State != vise.DeviceRunning || st.Components["vise.inspect"] != "RUNNING" {
		t.Fatalf("deployment from S3: %+v", st)
	}

	ready := func() int {
		resp, err := http.Get(e.server + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != http.StatusOK {
		t.Errorf("readyz with S3 up: %d", code)
	}
	s3.Close()
	e.waitFor("readyz to report the blob store gone", 2*time.Minute, func() bool { return ready() == http.StatusServiceUnavailable })
}
