package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vise-edge/vise"
)

// flakyServer serves one artifact with Range support and cuts the first
// response off halfway, like a link dropping mid-download.
type flakyServer struct {
	data   []byte
	mu     sync.Mutex
	ranges []string
	cuts   int
}

func (f *flakyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	cut := f.cuts > 0
	f.cuts--
	f.mu.Unlock()
	off := 0
	if rg := r.Header.Get("Range"); rg != "" {
		off, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(f.data)-1, len(f.data)))
		w.Header().Set("Content-Length", strconv.Itoa(len(f.data)-off))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	}
	body := f.data[off:]
	if cut {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.Write(body)
}

func testAgent(t *testing.T, url string, hc *http.Client) *Agent {
	t.Helper()
	return &Agent{cfg: Config{DataDir: t.TempDir(), Server: url}, http: hc, log: slog.New(slog.DiscardHandler)}
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestDownloadResumesAfterCut(t *testing.T) {
	data := bytes.Repeat([]byte("model weights "), 50000)
	fs := &flakyServer{data: data, cuts: 1}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	a := testAgent(t, srv.URL, srv.Client())
	sha := digest(data)
	if err := a.fetchArtifact(context.Background(), sha, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(a.casPath(sha))
	if !bytes.Equal(got, data) {
		t.Fatal("cached artifact differs from the original")
	}
	if len(fs.ranges) != 2 || fs.ranges[0] != "" || !strings.HasPrefix(fs.ranges[1], "bytes=") || fs.ranges[1] == "bytes=0-" {
		t.Errorf("requests = %q; want a full request, then a resume from where it was cut", fs.ranges)
	}
	if bytes, _, _ := a.Metrics.Snapshot(); bytes != int64(len(data)) {
		t.Errorf("downloaded %d bytes for a %d-byte artifact; a resume should not fetch bytes twice", bytes, len(data))
	}
	// A second fetch is a cache hit: no request at all.
	if err := a.fetchArtifact(context.Background(), sha, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if len(fs.ranges) != 2 {
		t.Errorf("a cached artifact was downloaded again")
	}
}

func TestDownloadRefusesWrongContent(t *testing.T) {
	data := []byte("the real model")
	srv := httptest.NewTLSServer(&flakyServer{data: []byte("a forged model")})
	defer srv.Close()
	a := testAgent(t, srv.URL, srv.Client())
	err := a.fetchArtifact(context.Background(), digest(data), int64(len(data)))
	if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "failed verification") {
		t.Fatalf("forged content: %v", err)
	}
	if _, err := os.Stat(a.casPath(digest(data))); err == nil {
		t.Error("forged content entered the cache")
	}
}

func TestDownloadServerGone(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	url, hc := srv.URL, srv.Client()
	srv.Close()
	a := testAgent(t, url, hc)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no waiting through retries in a test
	if err := a.fetchArtifact(ctx, digest([]byte("x")), 1); err == nil {
		t.Fatal("download from a vanished server succeeded")
	}
}
