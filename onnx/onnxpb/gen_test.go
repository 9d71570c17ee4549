package onnxpb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The committed onnx.pb.go is what protoc and the module's protoc-gen-go
// make from onnx.proto today (the go:generate command in gen.go).
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc is not installed (scripts/setup.sh test installs Debian's protobuf-compiler): cannot regenerate onnx.pb.go to compare")
	}
	plugin, err := exec.Command("go", "tool", "-n", "protoc-gen-go").Output()
	if err != nil {
		t.Fatalf("go tool -n protoc-gen-go: %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command("protoc", "--plugin=protoc-gen-go="+strings.TrimSpace(string(plugin)), "-I", ".", "--go_out="+out,
		"--go_opt=paths=source_relative", "--go_opt=Monnx.proto=github.com/vise-edge/vise/onnx/onnxpb", "onnx.proto")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v: %s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(out, "onnx.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("onnx.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("onnx.pb.go differs from what onnx.proto generates: run go generate ./onnx/onnxpb and commit the result")
	}
}
