package main

import (
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/pki"
)

// These tests change what the server serves after it was signed, the way a
// compromised database or a hostile network path would, and check that the
// device refuses it and keeps running what it ran.

// markedComponent creates vise.inspect@version whose run step first leaves
// a file good-<version> in marks, so a test can tell whether it ran; a
// tampered recipe leaves evil-<version> instead.
func (e *env) markedComponent(version, marks string) {
	e.t.Helper()
	run := "  run: {script: \"touch " + marks + "/good-" + version + "; exec ./artifacts/run.sh\"}\n"
	e.component("vise.inspect", version, "#!/bin/sh\nexec sleep 600\n", run)
}

// stop ends an agent process and waits for it, so nothing fetches while the
// test changes the server behind its back.
func (a *agentProc) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
}

// tamperDB changes exactly one row of the server's SQLite database while
// the server runs.
func tamperDB(t *testing.T, e *env, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.data, "vise.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampering changed %d rows, want 1: %s", n, query)
	}
}

func marks(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// A deployment document or a recipe changed in the database after it was
// signed is refused by the device: the deployment fails with the
// verification reason and the previous generation keeps running. Where a
// server restart re-signs the tampered recipe, the digest the (signed)
// document pins still catches it.
func TestAgentRefusesTamperedDocumentAndRecipe(t *testing.T) {
	data := t.TempDir()
	listen, devListen, mqttListen := freeAddr(t), freeAddr(t), freeAddr(t)
	e, srv := startServerOn(t, data, listen, devListen, mqttListen)
	mk := t.TempDir()
	e.markedComponent("1.0.0", mk)
	a := e.startAgent("cam-1", "")
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect@1.0.0")); st.State != vise.DeviceRunning {
		t.Fatalf("first deployment: %+v", st)
	}
	e.waitFor("1.0.0's run step", 30*time.Second, func() bool { return len(marks(t, mk)) == 1 })

	refused := func(t *testing.T, e *env, id, reason string) {
		t.Helper()
		st := e.awaitDeployment("cam-1", id)
		if st.State != vise.DeviceFailed || !strings.Contains(st.Message, reason) {
			t.Errorf("deployment %s: state %s, message %q; want FAILED saying %q", id, st.State, st.Message, reason)
		}
		if st.Generation != 1 || st.Components["vise.inspect"] != "RUNNING" {
			t.Errorf("after refusing it: generation %d, components %v; want generation 1 still running", st.Generation, st.Components)
		}
		if got := marks(t, mk); len(got) != 1 || got[0] != "good-1.0.0" {
			t.Errorf("run steps that ran: %v; want only good-1.0.0", got)
		}
	}

	t.Run("document", func(t *testing.T) {
		e.markedComponent("1.1.0", mk)
		a.stop(t)
		id := e.deployTo("cam-1", "vise.inspect@1.1.0")
		tamperDB(t, e, `UPDATE deployments SET configuration = ? WHERE id = ?`, `{"vise.inspect":{"mode":"evil"}}`, id)
		e.runAgent(a, "cam-1")
		refused(t, e, id, "deployments/"+id+".json failed verification")
	})

	t.Run("recipe", func(t *testing.T) {
		e.markedComponent("1.2.0", mk)
		a.stop(t)
		id := e.deployTo("cam-1", "vise.inspect@1.2.0")
		tamperDB(t, e, `UPDATE components SET recipe = replace(recipe, 'good-', 'evil-') WHERE name = 'vise.inspect' AND version = '1.2.0'`)
		e.runAgent(a, "cam-1")
		refused(t, e, id, "components/vise.inspect/1.2.0/recipe.json failed verification")
	})

	t.Run("recipe re-signed by a restart", func(t *testing.T) {
		e.markedComponent("1.3.0", mk)
		a.stop(t)
		id := e.deployTo("cam-1", "vise.inspect@1.3.0")
		tamperDB(t, e, `UPDATE components SET recipe = replace(recipe, 'good-', 'evil-') WHERE name = 'vise.inspect' AND version = '1.3.0'`)
		// At start the server re-signs every target from the database, the
		// tampered recipe with it; the document still pins the digest of
		// the recipe as it was created.
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
		e2, _ := startServerOn(t, data, listen, devListen, mqttListen)
		e2.workdir = e.workdir
		e2.runAgent(a, "cam-1")
		refused(t, e2, id, "recipe vise.inspect@1.3.0 does not match the digest the deployment pins")
	})
}

// A server (or a path to it) that serves older timestamp, snapshot and
// targets metadata than the device has already seen is refused: TUF rollback
// protection, which rests on the device keeping the newest metadata it
// verified in its data directory across restarts.
func TestAgentRefusesReleaseMetadataRollback(t *testing.T) {
	e := startServer(t)
	mk := t.TempDir()
	e.markedComponent("1.0.0", mk)
	a := e.startAgent("cam-1", "")
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect@1.0.0")); st.State != vise.DeviceRunning {
		t.Fatalf("first deployment: %+v", st)
	}
	devTLS := deviceTLS(t, a)
	get := func(name string) []byte {
		t.Helper()
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: devTLS.Clone()}}
		resp, err := hc.Get(e.deviceURL + "/v1/release/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", name, resp.StatusCode, b)
		}
		return b
	}
	// A consistent older set, as a replay would serve it.
	old := map[string][]byte{"timestamp.json": get("timestamp.json"), "snapshot.json": get("snapshot.json"), "targets.json": get("targets.json")}
	oldVersion := metaVersion(t, old["timestamp.json"])

	// The repository moves on and the device follows.
	e.markedComponent("1.1.0", mk)
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect@1.1.0")); st.State != vise.DeviceRunning {
		t.Fatalf("second deployment: %+v", st)
	}
	a.stop(t)
	seen := metaVersion(t, get("timestamp.json"))
	if seen <= oldVersion {
		t.Fatalf("the server's timestamp is version %d, not newer than the saved %d", seen, oldVersion)
	}
	trusted := filepath.Join(a.data, "tuf", "timestamp.json")
	if got := readVersion(t, trusted); got != seen {
		t.Errorf("the device keeps timestamp version %d, want the %d it verified", got, seen)
	}

	// A proxy in front of the device API, holding the server's certificate
	// and the device's, serves the old timestamp, snapshot and targets.
	target, _ := url.Parse(e.deviceURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: devTLS.Clone()}
	var served atomic.Int64 // old metadata files served
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/v1/release/"); ok && old[name] != nil {
			served.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.Write(old[name])
			return
		}
		rp.ServeHTTP(w, r)
	}))
	ca, err := pki.Open(filepath.Join(e.data, "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	proxy.StartTLS()
	t.Cleanup(proxy.Close)

	e.markedComponent("1.2.0", mk)
	id := e.deployTo("cam-1", "vise.inspect@1.2.0")
	direct := e.deviceURL
	e.deviceURL = proxy.URL
	e.runAgent(a, "cam-1")
	e.deviceURL = direct
	st := e.awaitDeployment("cam-1", id)
	if st.State != vise.DeviceFailed || !strings.Contains(st.Message, "release metadata did not verify") ||
		!strings.Contains(st.Message, "timestamp version") || !strings.Contains(st.Message, "must be >=") {
		t.Errorf("deployment over the rollback proxy: state %s, message %q; want FAILED with a timestamp version error", st.State, st.Message)
	}
	if st.Generation != 2 || st.Components["vise.inspect"] != "RUNNING" {
		t.Errorf("after refusing: generation %d, components %v; want generation 2 still running", st.Generation, st.Components)
	}
	if served.Load() == 0 {
		t.Error("the agent never fetched the old metadata through the proxy")
	}
	if got := readVersion(t, trusted); got != seen {
		t.Errorf("the device's trusted timestamp is version %d after the rollback attempt, want still %d", got, seen)
	}
	if got := marks(t, mk); strings.Join(got, ",") != "good-1.0.0,good-1.1.0" {
		t.Errorf("run steps that ran: %v; want good-1.0.0 and good-1.1.0 only", got)
	}
}

func metaVersion(t *testing.T, b []byte) int64 {
	t.Helper()
	var md struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	return md.Signed.Version
}

// readVersion is the version of a metadata file the device keeps; 0 if it
// keeps none.
func readVersion(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("no trusted metadata: %v", err)
		return 0
	}
	return metaVersion(t, b)
}
