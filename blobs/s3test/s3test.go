// Package s3test runs an S3-protocol server on loopback for tests
// (gofakes3, in memory), so the blob store is tested against S3 as it is
// spoken, not a fake of the Go API.
package s3test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Bucket is the one bucket the server has.
const Bucket = "vise"

// Server is an S3 server with one bucket. Fail makes it answer the next
// requests 503 (SlowDown), as a busy S3 does.
type Server struct {
	srv     *httptest.Server
	backend *s3mem.Backend
	failing atomic.Int32
	failed  atomic.Int32
}

// Start starts a server, closed when the test ends, and gives the process
// static credentials for it (the SDK must not go looking for others: this
// machine has no metadata service).
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{backend: s3mem.New()}
	if err := s.backend.CreateBucket(Bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(s.backend).Server()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.failing.Add(-1) >= 0 {
			s.failed.Add(1)
			http.Error(w, "<Error><Code>SlowDown</Code><Message>try again</Message></Error>", http.StatusServiceUnavailable)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "vise-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "vise-test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return s
}

// URL is the blob store URL of the bucket, as `vise server --blobs` takes it.
func (s *Server) URL() string {
	return "s3://" + Bucket + "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + s.srv.URL
}

// Fail makes the next n requests fail with 503.
func (s *Server) Fail(n int) { s.failing.Store(int32(n)) }

// Failed is how many requests were answered 503.
func (s *Server) Failed() int { return int(s.failed.Load()) }

// Close stops the server: the store is gone.
func (s *Server) Close() { s.srv.Close() }

// Keys lists the bucket as S3 does.
func (s *Server) Keys(t testing.TB) []string {
	t.Helper()
	list, err := s.backend.ListBucket(Bucket, nil, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list.Contents {
		out = append(out, c.Key)
	}
	return out
}
