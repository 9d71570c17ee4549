package agent

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

var updateDeps = flag.Bool("update-deps", false, "rewrite deps.txt with the agent's current dependencies")

// forbidden are the server's parts and libraries: an import path that
// contains one of these never belongs in the agent, whatever deps.txt says.
var forbidden = []string{"/vise/store", "/vise/pipeline", "riverqueue", "jackc/pgx", "pressly/goose", "gocloud.dev", "aws",
	"/vise/httpapi", "/vise/web", "/vise/fleet", "/vise/broker", "/vise/ingest", "/vise/server", "prometheus", "modernc.org/sqlite",
	// go-tuf (with sigstore and protobuf) and mochi are the server's; the
	// device verifies with package tufclient and serves its components with
	// package localipc's own small broker (docs/decisions/0029).
	"theupdateframework", "sigstore", "google.golang.org/protobuf", "mochi-mqtt", "/vise/mqttauth"}

// TestDeps keeps the agent lean, like Tailscale's depaware check: its
// dependencies outside the standard library must be listed in deps.txt,
// so a new one is a decision in review, not an accident of an import.
func TestDeps(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	for _, p := range got {
		for _, f := range forbidden {
			if strings.Contains(p, f) {
				t.Errorf("the agent depends on %s (%q is server-side); keep it out of the device binary", p, f)
			}
		}
	}
	if *updateDeps {
		head := "# Packages outside the standard library that package agent may depend on,\n# checked by TestDeps (deps_test.go). A change here is a review item: the\n# agent runs on small edge devices. Regenerate with: go test ./agent -run TestDeps -update-deps\n"
		if err := os.WriteFile("deps.txt", []byte(head+strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile("deps.txt")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			allowed[line] = true
		}
	}
	for _, p := range got {
		if !allowed[p] {
			t.Errorf("the agent now depends on %s, which deps.txt does not allow; remove the import, or add it with -update-deps if the device needs it", p)
		}
	}
}
