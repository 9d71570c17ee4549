package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise/deviceapi"
)

// arm64Images are two shared photos whose detections sit well above the
// confidence threshold, so a rounding difference cannot add or drop one.
var arm64Images = []string{
	"image-2020-04-22-10-52-30-17-cropped-left-bottom.jpg",
	"image-2020-04-22-11-04-57-07-cropped-left-bottom.jpg",
}

// TestArm64MatchesAmd64 runs the arm64 build of vise-infer under
// qemu-aarch64-static with the arm64 ONNX Runtime library and checks that
// its detections on the shared photos equal this build's within 1e-3, then
// that a one-frame bench completes. `make test-arm64` cross-builds the
// binary and sets the variables this test reads.
func TestArm64MatchesAmd64(t *testing.T) {
	armBin, armORT := os.Getenv("VISE_ARM64_INFER"), os.Getenv("VISE_ARM64_ORT_LIB")
	if armBin == "" || armORT == "" {
		if os.Getenv("VISE_REQUIRE_ARM64") != "" {
			t.Fatal("VISE_REQUIRE_ARM64 is set but VISE_ARM64_INFER or VISE_ARM64_ORT_LIB is not")
		}
		t.Skip("VISE_ARM64_INFER and VISE_ARM64_ORT_LIB are not set: `make test-arm64` cross-builds vise-infer for arm64 and runs this test")
	}
	needORT(t)
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatalf("qemu-aarch64-static (Debian qemu-user-static, installed by scripts/setup.sh test): %v", err)
	}
	metalTags, _ := filepath.Abs("../../samples/models/metal-tags.onnx")

	want := runOnImages(t, []string{bin}, metalTags, ortLib)
	arm := append(qemuARM64(t, qemu), armBin)
	got := runOnImages(t, arm, metalTags, armORT)
	for _, name := range arm64Images {
		compareDetections(t, name, want[name], got[name])
	}

	out, errOut := runFor(t, 10*time.Minute, append(arm, "bench", "--model", metalTags, "--ort-lib", armORT,
		"--images", imagesDir(t), "--frames", "1", "--blocks", "1", "-o", "json"))
	var rep BenchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.BareFPS <= 0 || rep.EndToEndFPS <= 0 {
		t.Fatalf("arm64 bench: %v\n%s\n%s", err, out, errOut)
	}
	t.Logf("arm64 under qemu: bare %.2f frames/s, end to end %.2f frames/s (emulated: correctness, not speed)", rep.BareFPS, rep.EndToEndFPS)
}

// qemuARM64 is the command prefix that runs an arm64 program here. The
// loader and libraries come from Debian's arm64 multiarch packages. The -L
// directory holds only an arm64 /proc/cpuinfo: Debian 12's qemu-user (7.2)
// shows programs the host's x86 one, and ONNX Runtime's CPU detection
// dereferences NULL parsing it while the library loads.
func qemuARM64(t *testing.T, qemu string) []string {
	t.Helper()
	root := t.TempDir()
	var b strings.Builder
	for i := range 2 {
		b.WriteString("processor\t: " + string(rune('0'+i)) + "\nBogoMIPS\t: 50.00\n" +
			"Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n" +
			"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n")
	}
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc", "cpuinfo"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{qemu, "-L", root}
}

// imagesDir copies arm64Images into a fresh folder.
func imagesDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range arm64Images {
		copyFile(t, filepath.Join("../../samples/images", name), filepath.Join(dir, name))
	}
	return dir
}

// runOnImages runs `vise-infer run` over arm64Images and returns each
// image's result by name.
func runOnImages(t *testing.T, prog []string, model, lib string) map[string]deviceapi.Result {
	t.Helper()
	src := imagesDir(t)
	out, errOut := runFor(t, 10*time.Minute, append(prog, "run", "--model", model, "--ort-lib", lib,
		"--source", src, "--done", filepath.Join(t.TempDir(), "done"), "--frames", "2", "-o", "json"))
	results := map[string]deviceapi.Result{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r deviceapi.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: result line %q: %v\n%s", prog[0], line, err, errOut)
		}
		results[r.Image.Name] = r
	}
	if len(results) != len(arm64Images) {
		t.Fatalf("%s: %d results, want %d\n%s", prog[0], len(results), len(arm64Images), errOut)
	}
	return results
}

// runFor runs a command to its end, killing it (SIGKILL: an emulated
// program may not answer SIGTERM) if it outlives d.
func runFor(t *testing.T, d time.Duration, argv []string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "VISE_IPC=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// compareDetections checks two results of one image agree: the same
// detections in the same order, confidences within 1e-3 and box edges
// within 1e-3 of the image's size.
func compareDetections(t *testing.T, name string, want, got deviceapi.Result) {
	t.Helper()
	if len(got.Detections) != len(want.Detections) || len(want.Detections) == 0 {
		t.Fatalf("%s: arm64 found %d detections, amd64 %d", name, len(got.Detections), len(want.Detections))
	}
	w, h := float64(want.Image.Width), float64(want.Image.Height)
	for i, a := range want.Detections {
		b := got.Detections[i]
		diffs := []float64{
			math.Abs(a.Confidence - b.Confidence),
			math.Abs(a.Box.X-b.Box.X) / w, math.Abs(a.Box.Width-b.Box.Width) / w,
			math.Abs(a.Box.Y-b.Box.Y) / h, math.Abs(a.Box.Height-b.Box.Height) / h,
		}
		if a.ClassID != b.ClassID || slices.Max(diffs) > 1e-3 {
			t.Errorf("%s detection %d: arm64 %+v, amd64 %+v", name, i, b, a)
		}
	}
}
