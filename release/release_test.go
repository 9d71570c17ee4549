package release_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vise-edge/vise/release"
)

// repoServer serves a repo's metadata at /metadata/ and target bytes at
// /targets/, as the Vise server does, on a loopback httptest server.
type repoServer struct {
	*httptest.Server
	mu      sync.Mutex
	blobs   map[string][]byte
	handler http.Handler
}

func serve(t *testing.T, r *release.Repo) *repoServer {
	t.Helper()
	rs := &repoServer{blobs: map[string][]byte{}, handler: r.Handler()}
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata/", func(w http.ResponseWriter, req *http.Request) {
		rs.mu.Lock()
		h := rs.handler
		rs.mu.Unlock()
		http.StripPrefix("/metadata", h).ServeHTTP(w, req)
	})
	mux.HandleFunc("/targets/", func(w http.ResponseWriter, req *http.Request) {
		rs.mu.Lock()
		b, ok := rs.blobs[strings.TrimPrefix(req.URL.Path, "/targets/")]
		rs.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	})
	rs.Server = httptest.NewServer(mux)
	t.Cleanup(rs.Close)
	return rs
}

func (rs *repoServer) put(path string, b []byte) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.blobs[path] = b
}

func target(path string, b []byte) release.Target {
	sum := sha256.Sum256(b)
	return release.Target{Path: path, Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// device is a go-tuf updater as the agent uses it, with its own cache dir.
func device(t *testing.T, rs *repoServer, root []byte, dir string) *updater.Updater {
	t.Helper()
	cfg, err := config.New(rs.URL+"/metadata", root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = filepath.Join(dir, "metadata")
	cfg.LocalTargetsDir = filepath.Join(dir, "targets")
	cfg.RemoteTargetsURL = rs.URL + "/targets"
	if err := cfg.EnsurePathsExist(); err != nil {
		t.Fatal(err)
	}
	up, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func fetch(up *updater.Updater, path string) ([]byte, error) {
	if err := up.Refresh(); err != nil {
		return nil, err
	}
	ti, err := up.GetTargetInfo(path)
	if err != nil {
		return nil, err
	}
	_, b, err := up.DownloadTarget(ti, "", "")
	return b, err
}

func open(t *testing.T, dir string, now func() time.Time) *release.Repo {
	t.Helper()
	r, err := release.Open(release.Options{Dir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestOpenTwiceKeepsRoot(t *testing.T) {
	dir := t.TempDir()
	first := open(t, dir, nil).RootJSON()
	second := open(t, dir, nil).RootJSON()
	if string(first) != string(second) || len(first) == 0 {
		t.Error("root changed between starts; enrolled devices would be cut off")
	}
	info, err := os.Stat(filepath.Join(dir, "keys", "root.pem"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("root key file: %v, mode %v; want 0600", err, info.Mode())
	}
}

func TestDeviceVerifiesTargets(t *testing.T) {
	r := open(t, t.TempDir(), nil)
	rs := serve(t, r)
	model := []byte("onnx model bytes")
	path := "artifacts/" + target("", model).SHA256
	rs.put(path, model)
	if err := r.AddTargets(target(path, model)); err != nil {
		t.Fatal(err)
	}
	up := device(t, rs, r.RootJSON(), t.TempDir())
	got, err := fetch(up, path)
	if err != nil || string(got) != string(model) {
		t.Fatalf("verified download = %q, %v", got, err)
	}
	// Tampered bytes on the wire are refused.
	rs.put(path, []byte("onnx model bytez"))
	if _, err := fetch(device(t, rs, r.RootJSON(), t.TempDir()), path); err == nil {
		t.Error("tampered target accepted")
	}
	// A target the server never signed does not exist for the device.
	rs.put("artifacts/unsigned", []byte("x"))
	if _, err := fetch(up, "artifacts/unsigned"); err == nil {
		t.Error("unsigned target accepted")
	}
}

func TestAddTargetsConflictAndNoop(t *testing.T) {
	r := open(t, t.TempDir(), nil)
	a := target("deployments/1.json", []byte("v1"))
	if err := r.AddTargets(a); err != nil {
		t.Fatal(err)
	}
	before, _ := r.Metadata("targets.json")
	if err := r.AddTargets(a); err != nil {
		t.Fatal(err)
	}
	after, _ := r.Metadata("targets.json")
	if string(before) != string(after) {
		t.Error("re-adding the same target re-signed targets.json")
	}
	b := target("deployments/1.json", []byte("v2"))
	if err := r.AddTargets(b); err == nil || !strings.Contains(err.Error(), "different content") {
		t.Errorf("conflicting target: %v", err)
	}
	if err := r.AddTargets(release.Target{Path: "x", SHA256: "zz"}); err == nil {
		t.Error("bad sha256 accepted")
	}
}

func TestExpiryAndRefresh(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().Add(-48 * time.Hour) // signed two days ago: timestamp expired
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	r := open(t, t.TempDir(), clock)
	rs := serve(t, r)
	b := []byte("recipe")
	rs.put("components/a/1.0.0/recipe.json", b)
	if err := r.AddTargets(target("components/a/1.0.0/recipe.json", b)); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(device(t, rs, r.RootJSON(), t.TempDir()), "components/a/1.0.0/recipe.json"); err == nil || !strings.Contains(strings.ToLower(err.Error()), "expire") {
		t.Fatalf("expired timestamp accepted: %v", err)
	}
	mu.Lock()
	now = time.Now()
	mu.Unlock()
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(device(t, rs, r.RootJSON(), t.TempDir()), "components/a/1.0.0/recipe.json"); err != nil {
		t.Errorf("after Refresh: %v", err)
	}
}

func TestRollbackRefused(t *testing.T) {
	r := open(t, t.TempDir(), nil)
	rs := serve(t, r)
	rs.put("a", []byte("a"))
	r.AddTargets(target("a", []byte("a")))
	oldTS, _ := r.Metadata("timestamp.json")
	rs.put("b", []byte("b"))
	r.AddTargets(target("b", []byte("b")))
	dir := t.TempDir()
	if _, err := fetch(device(t, rs, r.RootJSON(), dir), "b"); err != nil {
		t.Fatal(err)
	}
	// An attacker (or a stale mirror) serves the older timestamp.
	rs.mu.Lock()
	rs.handler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/timestamp.json" {
			w.Write(oldTS)
			return
		}
		r.Handler().ServeHTTP(w, req)
	})
	rs.mu.Unlock()
	if err := device(t, rs, r.RootJSON(), dir).Refresh(); err == nil {
		t.Error("a device that saw a newer timestamp accepted an older one")
	}
}

func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	r := open(t, dir, nil)
	oldRoot := r.RootJSON()
	rs := serve(t, r)
	for _, role := range []string{metadata.TARGETS, metadata.ROOT, metadata.TIMESTAMP} {
		if err := r.RotateKey(role); err != nil {
			t.Fatalf("rotate %s: %v", role, err)
		}
	}
	b := []byte("new inference code")
	rs.put("artifacts/x", b)
	if err := r.AddTargets(target("artifacts/x", b)); err != nil {
		t.Fatal(err)
	}
	// A device enrolled before the rotation walks the root chain.
	if got, err := fetch(device(t, rs, oldRoot, t.TempDir()), "artifacts/x"); err != nil || string(got) != string(b) {
		t.Errorf("device with the old root: %q, %v", got, err)
	}
	// The rotated keys survive a restart.
	r2 := open(t, dir, nil)
	if string(r2.RootJSON()) != string(r.RootJSON()) {
		t.Error("root differs after restart")
	}
	if err := r2.AddTargets(target("artifacts/y", []byte("y"))); err != nil {
		t.Errorf("signing after restart: %v", err)
	}
}

func TestCorruptMetadata(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil)
	os.WriteFile(filepath.Join(dir, "metadata", "snapshot.json"), []byte("{garbage"), 0o644)
	_, err := release.Open(release.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "snapshot.json") {
		t.Errorf("corrupt snapshot.json: %v", err)
	}
	dir2 := t.TempDir()
	open(t, dir2, nil)
	os.Remove(filepath.Join(dir2, "keys", "targets.pem"))
	_, err = release.Open(release.Options{Dir: dir2})
	if err == nil || !strings.Contains(err.Error(), "targets.pem") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "keys", "targets.pem")); err == nil {
		t.Error("a missing key was silently regenerated")
	}
}
