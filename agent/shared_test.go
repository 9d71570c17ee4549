package agent

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/vise-edge/vise"
)

// Agents sharing a cache each download and verify the artifact (the
// server serves it once per agent, resumes included), but it is on disk
// once: every agent's cache entry is the same file.
func TestSharedCacheOneCopy(t *testing.T) {
	data := bytes.Repeat([]byte("model weights "), 50000)
	fs := &flakyServer{data: data, cuts: 1}
	srv := httptest.NewTLSServer(fs)
	defer srv.Close()
	c, err := NewSharedCache(filepath.Join(t.TempDir(), "shared"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir() // hard links: the agents' directories on the cache's file system
	agents := make([]*Agent, 8)
	for i := range agents {
		agents[i] = testAgent(t, srv.URL, srv.Client())
		agents[i].cfg.DataDir = filepath.Join(root, string(rune('a'+i)))
		agents[i].cfg.SharedCache = c
	}
	sha := digest(data)
	var wg sync.WaitGroup
	errs := make([]error, len(agents))
	for i, a := range agents {
		wg.Go(func() { errs[i] = a.fetchArtifact(context.Background(), sha, int64(len(data))) })
	}
	wg.Wait()
	first, err := os.Stat(agents[0].casPath(sha))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range agents {
		if errs[i] != nil {
			t.Fatalf("agent %d: %v", i, errs[i])
		}
		if n, _, _ := a.Metrics.Snapshot(); n != int64(len(data)) {
			t.Errorf("agent %d downloaded %d bytes, want the whole artifact once (%d)", i, n, len(data))
		}
		fi, err := os.Stat(a.casPath(sha))
		if err != nil || !os.SameFile(fi, first) {
			t.Fatalf("agent %d: cache entry is not the shared copy: %v", i, err)
		}
	}
	if got, _ := os.ReadFile(agents[3].casPath(sha)); !bytes.Equal(got, data) {
		t.Fatal("shared artifact differs from the original")
	}
	if links := uint64(first.Sys().(*syscall.Stat_t).Nlink); links != uint64(len(agents)+1) { // uint32 on arm64
		t.Errorf("%d links to the one copy, want one per agent and the cache's (%d)", links, len(agents)+1)
	}
}

// An agent that shares a cache still refuses content that does not match
// the signed digest, whether it writes the copy or not.
func TestSharedCacheRefusesWrongContent(t *testing.T) {
	data := []byte("the real model")
	srv := httptest.NewTLSServer(&flakyServer{data: []byte("a forged model")})
	defer srv.Close()
	c, _ := NewSharedCache(filepath.Join(t.TempDir(), "shared"))
	for i := range 2 {
		a := testAgent(t, srv.URL, srv.Client())
		a.cfg.SharedCache = c
		err := a.fetchArtifact(context.Background(), digest(data), int64(len(data)))
		if vise.ErrorCode(err) != vise.CodeInvalid {
			t.Fatalf("agent %d, forged content: %v", i, err)
		}
		e, writer := c.claim(digest(data))
		if !writer {
			t.Fatalf("agent %d: a failed digest stays claimed", i)
		}
		c.finish(digest(data), e, "", os.ErrNotExist)
	}
}
