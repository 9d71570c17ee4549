package tufclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sigstore "github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vise-edge/vise/release"
)

// These tests sign repositories with the server's own package release (on
// go-tuf) and run every case through this client and through go-tuf's
// updater, the reference: both must accept, or both refuse.

// repo is a release repository served over loopback HTTP, with a way to
// serve other bytes for a metadata file, as a hostile mirror would.
type repo struct {
	*release.Repo
	dir      string // the repository's, keys included
	url      string
	mu       sync.Mutex
	override map[string][]byte
	blobs    map[string][]byte
}

func newRepo(t *testing.T, now func() time.Time) *repo {
	t.Helper()
	dir := t.TempDir()
	r, err := release.Open(release.Options{Dir: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	p := &repo{Repo: r, dir: dir, override: map[string][]byte{}, blobs: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *repo) serve(w http.ResponseWriter, req *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name, ok := strings.CutPrefix(req.URL.Path, "/metadata/"); ok {
		if b, ok := p.override[name]; ok {
			w.Write(b)
			return
		}
		http.StripPrefix("/metadata", p.Handler()).ServeHTTP(w, req)
		return
	}
	b, ok := p.blobs[strings.TrimPrefix(req.URL.Path, "/targets/")]
	if !ok {
		http.NotFound(w, req)
		return
	}
	w.Write(b)
}

// add signs and serves a target.
func (p *repo) add(t *testing.T, path string, b []byte) {
	t.Helper()
	sum := sha256.Sum256(b)
	p.mu.Lock()
	p.blobs[path] = b
	p.mu.Unlock()
	if err := p.AddTargets(release.Target{Path: path, Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}); err != nil {
		t.Fatal(err)
	}
}

func (p *repo) set(name string, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b == nil {
		delete(p.override, name)
		return
	}
	p.override[name] = b
}

func (p *repo) meta(t *testing.T, name string) []byte {
	t.Helper()
	b, err := p.Metadata(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// device is one device's trusted state for both clients.
type device struct {
	root       []byte
	ours, tufs string // metadata directories
}

func newDevice(t *testing.T, root []byte) *device {
	return &device{root: root, ours: t.TempDir(), tufs: t.TempDir()}
}

// refresh runs both clients and fetches path (if not ""), returning each
// one's error.
func (d *device) refresh(t *testing.T, p *repo, path string) (ours, theirs error) {
	t.Helper()
	return d.oursFetch(p, path), d.goTUFFetch(t, p, path)
}

func (d *device) oursFetch(p *repo, path string) error {
	c, err := New(Options{MetadataURL: p.url + "/metadata", TargetsURL: p.url + "/targets", Dir: d.ours, Root: d.root})
	if err != nil {
		return err
	}
	if err := c.Refresh(context.Background()); err != nil || path == "" {
		return err
	}
	tg, err := c.Target(path)
	if err != nil {
		return err
	}
	_, err = c.Fetch(context.Background(), tg)
	return err
}

func (d *device) goTUFFetch(t *testing.T, p *repo, path string) error {
	root := d.root
	if b, err := os.ReadFile(filepath.Join(d.tufs, "root.json")); err == nil {
		root = b
	}
	cfg, err := config.New(p.url+"/metadata", root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir, cfg.LocalTargetsDir = d.tufs, filepath.Join(d.tufs, "targets")
	cfg.RemoteTargetsURL = p.url + "/targets"
	cfg.DisableLocalCache = false
	if err := cfg.EnsurePathsExist(); err != nil {
		t.Fatal(err)
	}
	up, err := updater.New(cfg)
	if err != nil {
		return err
	}
	if err := up.Refresh(); err != nil || path == "" {
		return err
	}
	ti, err := up.GetTargetInfo(path)
	if err != nil {
		return err
	}
	_, _, err = up.DownloadTarget(ti, "", "")
	return err
}

// agree fails the test unless both clients accepted (want "") or both
// refused, this client with an error containing want.
func agree(t *testing.T, what string, ours, theirs error, want string) {
	t.Helper()
	switch {
	case (ours == nil) != (theirs == nil):
		t.Errorf("%s: this client says %v, go-tuf says %v", what, ours, theirs)
	case want == "" && ours != nil:
		t.Errorf("%s: refused: %v", what, ours)
	case want != "" && (ours == nil || !strings.Contains(ours.Error(), want)):
		t.Errorf("%s: this client says %v, want an error containing %q", what, ours, want)
	}
}

func TestVerifiesTargets(t *testing.T) {
	p := newRepo(t, nil)
	p.add(t, "artifacts/model", []byte("onnx model bytes"))
	d := newDevice(t, p.RootJSON())
	ours, theirs := d.refresh(t, p, "artifacts/model")
	agree(t, "signed target", ours, theirs, "")

	c, err := New(Options{MetadataURL: p.url + "/metadata", TargetsURL: p.url + "/targets", Dir: d.ours, Root: d.root})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	tg, err := c.Target("artifacts/model")
	sum := sha256.Sum256([]byte("onnx model bytes"))
	if err != nil || tg.Length != 16 || tg.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("Target = %+v, %v; want 16 bytes, sha256 %x", tg, err, sum)
	}
	if _, err := c.Target("artifacts/other"); !errors.Is(err, ErrNotListed) {
		t.Errorf("an unsigned path: %v, want ErrNotListed", err)
	}
	for name, b := range map[string][]byte{"tampered": []byte("onnx model bytez"), "short": []byte("onnx"), "long": []byte("onnx model bytes and more")} {
		p.mu.Lock()
		p.blobs["artifacts/model"] = b
		p.mu.Unlock()
		ours, theirs := d.refresh(t, p, "artifacts/model")
		agree(t, name+" target bytes", ours, theirs, "artifacts/model")
	}
	for _, f := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
		if st, err := os.Stat(filepath.Join(d.ours, f)); err != nil {
			t.Errorf("%s not kept: %v", f, err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("%s kept with mode %v, want 0600", f, st.Mode().Perm())
		}
	}
}

// An older timestamp than the device has seen is refused (rollback), as is
// a snapshot that lists an older targets.json; the trusted files stay.
func TestRollbackRefused(t *testing.T) {
	p := newRepo(t, nil)
	p.add(t, "a", []byte("a"))
	old := map[string][]byte{}
	for _, f := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
		old[f] = p.meta(t, f)
	}
	p.add(t, "b", []byte("b"))
	d := newDevice(t, p.RootJSON())
	ours, theirs := d.refresh(t, p, "b")
	agree(t, "current metadata", ours, theirs, "")
	trusted, _ := os.ReadFile(filepath.Join(d.ours, "timestamp.json"))

	p.set("timestamp.json", old["timestamp.json"])
	ours, theirs = d.refresh(t, p, "")
	agree(t, "older timestamp", ours, theirs, "new timestamp version")
	if now, _ := os.ReadFile(filepath.Join(d.ours, "timestamp.json")); string(now) != string(trusted) {
		t.Error("the refused refresh replaced the trusted timestamp")
	}
	// A newer timestamp, and the old snapshot and targets behind it.
	p.set("timestamp.json", nil)
	p.add(t, "c", []byte("c"))
	p.set("snapshot.json", old["snapshot.json"])
	p.set("targets.json", old["targets.json"])
	ours, theirs = d.refresh(t, p, "")
	agree(t, "older snapshot", ours, theirs, "new snapshot lists targets.json version")
}

func TestExpired(t *testing.T) {
	twoDaysAgo := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	p := newRepo(t, twoDaysAgo) // timestamps live a day
	p.add(t, "a", []byte("a"))
	ours, theirs := newDevice(t, p.RootJSON()).refresh(t, p, "a")
	agree(t, "expired timestamp", ours, theirs, "timestamp.json (version")
}

// A device enrolled before key rotations walks the root chain and follows
// the new timestamp and targets keys.
func TestKeyRotation(t *testing.T) {
	p := newRepo(t, nil)
	oldRoot := p.RootJSON()
	d := newDevice(t, oldRoot)
	p.add(t, "a", []byte("a"))
	ours, theirs := d.refresh(t, p, "a")
	agree(t, "before rotation", ours, theirs, "")
	for _, role := range []string{metadata.TARGETS, metadata.ROOT, metadata.TIMESTAMP, metadata.SNAPSHOT, metadata.ROOT} {
		if err := p.RotateKey(role); err != nil {
			t.Fatalf("rotate %s: %v", role, err)
		}
	}
	p.add(t, "b", []byte("b"))
	ours, theirs = d.refresh(t, p, "b")
	agree(t, "after rotation, trusted files from before", ours, theirs, "")
	ours, theirs = newDevice(t, oldRoot).refresh(t, p, "b")
	agree(t, "after rotation, new device with the old root", ours, theirs, "")
	if got, _ := os.ReadFile(filepath.Join(d.ours, "root.json")); string(got) != string(p.RootJSON()) {
		t.Error("the device did not keep the newest root")
	}
	// A root version that its predecessor's keys did not sign ends the walk.
	p.set("4.root.json", p.meta(t, "3.root.json"))
	ours, theirs = newDevice(t, oldRoot).refresh(t, p, "")
	agree(t, "root chain with a bad link", ours, theirs, "root version")
}

// A new root that the trusted root's keys sign but its own keys do not is
// refused (§5.3.5): a root must be able to sign its successor.
func TestNewRootMustSignItself(t *testing.T) {
	p := newRepo(t, nil)
	md, err := metadata.Root().FromBytes(p.meta(t, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(p.dir, "keys", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pemDecode(pem)
	priv, err := x509.ParsePKCS8PrivateKey(block)
	if err != nil {
		t.Fatal(err)
	}
	oldSigner, err := sigstore.LoadSigner(priv, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	newKey, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range slices.Clone(md.Signed.Roles[metadata.ROOT].KeyIDs) {
		md.Signed.RevokeKey(id, metadata.ROOT)
	}
	md.Signed.AddKey(newKey, metadata.ROOT)
	md.Signed.Version = 2
	md.ClearSignatures()
	if _, err := md.Sign(oldSigner); err != nil {
		t.Fatal(err)
	}
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	p.set("2.root.json", b)
	ours, theirs := newDevice(t, p.RootJSON()).refresh(t, p, "")
	agree(t, "a new root its own keys did not sign", ours, theirs, "against itself")
}

func pemDecode(b []byte) ([]byte, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return block.Bytes, nil
}

// One refresh walks at most MaxRootRotations new roots; the next refresh
// goes on from there.
func TestRootWalkBounded(t *testing.T) {
	p := newRepo(t, nil)
	dir := t.TempDir()
	for range 3 {
		if err := p.RotateKey(metadata.ROOT); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int64{3, 4} {
		c, err := New(Options{MetadataURL: p.url + "/metadata", TargetsURL: p.url + "/targets", Dir: dir, Root: p.meta(t, "1.root.json"), MaxRootRotations: 2})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if c.root.Version != want {
			t.Errorf("after a refresh the trusted root is version %d, want %d", c.root.Version, want)
		}
	}
}

// Metadata changed after signing, signed by a stranger, of the wrong role,
// or too large, is refused; garbage in the device's own directory is not
// trusted but does not stop a refresh either.
func TestTamperedMetadata(t *testing.T) {
	p := newRepo(t, nil)
	p.add(t, "a", []byte("a"))
	targets := string(p.meta(t, "targets.json"))
	for _, tc := range []struct {
		name, file string
		b          []byte
		want       string
	}{
		{"length changed", "targets.json", []byte(strings.Replace(targets, `"length": 1`, `"length": 2`, 1)), "not signed by enough"},
		{"snapshot served as timestamp", "timestamp.json", p.meta(t, "snapshot.json"), "expected timestamp"},
		{"signed by a stranger", "timestamp.json", resign(t, p.meta(t, "timestamp.json")), "not signed by enough"},
		{"not JSON", "timestamp.json", []byte("<html>"), "not metadata"},
		{"too large", "timestamp.json", make([]byte, maxTimestamp+1), "bytes allowed"},
		{"a float in the signed part", "timestamp.json", []byte(`{"signed":{"_type":"timestamp","version":1.5},"signatures":[]}`), "integers only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(targets, `"length": 1`) {
				t.Fatalf("targets.json has no length 1 to change: %s", targets)
			}
			p.set(tc.file, tc.b)
			defer p.set(tc.file, nil)
			ours, theirs := newDevice(t, p.RootJSON()).refresh(t, p, "")
			agree(t, tc.name, ours, theirs, tc.want)
		})
	}
	// Here the clients differ on purpose: go-tuf v2.4.2 stops at a local
	// file it cannot parse; this client, like python-tuf's ngclient (the
	// specification's reference), does not trust it and goes on, so a
	// corrupted file does not cut a device off its updates.
	d := newDevice(t, p.RootJSON())
	for _, f := range []string{"timestamp.json", "snapshot.json", "targets.json"} {
		os.WriteFile(filepath.Join(d.ours, f), []byte("garbage"), 0o600)
	}
	if err := d.oursFetch(p, "a"); err != nil {
		t.Errorf("garbage trusted files: %v", err)
	}
}

// resign replaces a metadata file's signatures with one by a fresh key.
func resign(t *testing.T, b []byte) []byte {
	t.Helper()
	md, err := metadata.Timestamp().FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := sigstore.LoadSigner(priv, 0)
	if err != nil {
		t.Fatal(err)
	}
	md.ClearSignatures()
	if _, err := md.Sign(signer); err != nil {
		t.Fatal(err)
	}
	out, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A refresh against a server that is gone or failing says so with the
// status, which callers use to retry.
func TestServerErrors(t *testing.T) {
	p := newRepo(t, nil)
	p.add(t, "a", []byte("a"))
	c, err := New(Options{MetadataURL: p.url + "/nowhere", TargetsURL: p.url + "/targets", Dir: t.TempDir(), Root: p.RootJSON()})
	if err != nil {
		t.Fatal(err)
	}
	var he *HTTPError
	if err := c.Refresh(context.Background()); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("Refresh against a missing path: %v, want an HTTPError 404", err)
	}
	if _, err := New(Options{Dir: t.TempDir(), Root: []byte("{}")}); err == nil {
		t.Error("an empty root was trusted")
	}
}
