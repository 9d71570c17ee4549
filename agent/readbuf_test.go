package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// TestBufferedDialReadsAhead: one small read takes everything the peer has
// sent in one go (one read(2) on a socket), and the bytes come out intact.
func TestBufferedDialReadsAhead(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	dial := bufferedDial(func(context.Context, string, string) (net.Conn, error) { return client, nil })
	c, err := dial(context.Background(), "tcp", "server:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, one write
	go server.Write(sent)

	first := make([]byte, 100)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	bc, ok := c.(*bufferedConn)
	if !ok {
		t.Fatalf("dial returned %T, want a *bufferedConn", c)
	}
	if got, want := bc.r.Buffered(), len(sent)-len(first); got != want {
		t.Fatalf("read ahead after the first 100 bytes = %d, want %d (the rest of the one write)", got, want)
	}
	rest := make([]byte, len(sent)-len(first))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(first, rest...), sent) {
		t.Fatal("bytes read through the buffer differ from those sent")
	}
}

func TestBufferedDialError(t *testing.T) {
	refused := errors.New("connection refused")
	dial := bufferedDial(func(context.Context, string, string) (net.Conn, error) { return nil, refused })
	if _, err := dial(context.Background(), "tcp", "server:443"); !errors.Is(err, refused) {
		t.Fatalf("dial error = %v, want %v", err, refused)
	}
}

// BenchmarkArtifactDownload downloads and verifies a 5 MB artifact over
// TLS on loopback, with the agent's buffered dial and with a plain one.
// cpu-ns/op is the process's CPU (both ends: the server is in-process too)
// per download; compare the two sub-benchmarks of one run.
func BenchmarkArtifactDownload(b *testing.B) {
	data := make([]byte, 5<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	srv := httptest.NewTLSServer(&flakyServer{data: data})
	defer srv.Close()
	tlsCfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	var plain net.Dialer
	for _, bc := range []struct {
		name string
		dial func(context.Context, string, string) (net.Conn, error)
	}{{"buffered", bufferedDial(nil)}, {"plain", plain.DialContext}} {
		b.Run(bc.name, func(b *testing.B) {
			hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg.Clone(), DialContext: bc.dial}}
			defer hc.CloseIdleConnections()
			a := &Agent{cfg: Config{DataDir: b.TempDir(), Server: srv.URL}, http: hc, log: slog.New(slog.DiscardHandler)}
			b.SetBytes(int64(len(data)))
			cpu := processCPU()
			for b.Loop() {
				if err := a.downloadVerify(context.Background(), sha, int64(len(data))); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
