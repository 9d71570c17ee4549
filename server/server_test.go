package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const sampleModel = "../samples/models/sample-tiny.onnx"

var ctx = context.Background()

// start runs a real server on a free loopback port with the given engine.
func start(t *testing.T, engine string) (*server.Server, *client.Client) {
	t.Helper()
	cfg := server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0", DataDir: t.TempDir()}
	if engine == store.Postgres {
		cfg.DB = pgtest.NewDatabase(t)
	}
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, client.New(s.URL(), s.AdminToken())
}

func engines(t *testing.T, fn func(t *testing.T, s *server.Server, c *client.Client)) {
	for _, e := range []string{store.SQLite, store.Postgres} {
		t.Run(e, func(t *testing.T) {
			s, c := start(t, e)
			fn(t, s, c)
		})
	}
}

func wantCode(t *testing.T, err error, code vise.Code, contains string) {
	t.Helper()
	if got := vise.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("error %q does not mention %q", err, contains)
	}
}

func register(t *testing.T, c *client.Client, name, path string, approve bool) *vise.ModelVersion {
	t.Helper()
	art, err := c.UploadFile(ctx, path, nil)
	if err != nil {
		t.Fatalf("upload %s: %v", path, err)
	}
	mv, err := c.RegisterModel(ctx, name, vise.RegisterModelRequest{SHA256: art.SHA256, Approve: approve,
		Metrics: map[string]float64{"map50": 0.61}, Lineage: vise.Lineage{TrainingRun: "run-7"}})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return mv
}

func TestRegisterAndApprove(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		mv := register(t, c, "metal-tags", sampleModel, false)
		if mv.Version != 1 || mv.Approval.Status != vise.PendingManualApproval {
			t.Fatalf("registered %+v", mv)
		}
		if len(mv.Inputs) != 1 || mv.Inputs[0].Name != "images" || fmt.Sprint(mv.Inputs[0].Shape) != "[1 3 320 320]" {
			t.Errorf("inputs read from the ONNX file = %+v", mv.Inputs)
		}
		if len(mv.ClassNames) != 1 || mv.ClassNames[0] != "scratch" {
			t.Errorf("class names = %v, want [scratch]", mv.ClassNames)
		}
		if mv.CreatedBy != "admin" {
			t.Errorf("created by %q, want the token's name", mv.CreatedBy)
		}
		got, err := c.Decide(ctx, "metal-tags", 1, vise.Approved, "passed review")
		if err != nil {
			t.Fatal(err)
		}
		if got.Approval.Status != vise.Approved || got.Approval.By != "admin" || got.Approval.Reason != "passed review" {
			t.Errorf("approval = %+v", got.Approval)
		}
		evs, err := c.Events(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		// The first events are the built-in pipelines (edge-deploy, retrain)
		// being stored at first start.
		if len(evs) != 4 || evs[0].Type != "pipeline.defined" || evs[1].Subject != "retrain/1" || evs[3].Type != vise.EventModelApproved || evs[3].Subject != "metal-tags/1" {
			t.Errorf("events = %+v", evs)
		}
		// Same file again: a new version, the blob stored once.
		mv2 := register(t, c, "metal-tags", sampleModel, true)
		if mv2.Version != 2 || mv2.Approval.Status != vise.Approved {
			t.Errorf("second registration = v%d %s", mv2.Version, mv2.Approval.Status)
		}
	})
}

func TestBadModelUploads(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		notONNX := filepath.Join(t.TempDir(), "tag.jpg")
		os.WriteFile(notONNX, append([]byte{0xff, 0xd8, 0xff, 0xe0}, make([]byte, 2000)...), 0o600)
		art, err := c.UploadFile(ctx, notONNX, nil)
		if err != nil {
			t.Fatal(err) // any blob may be uploaded; registration checks it
		}
		_, err = c.RegisterModel(ctx, "metal-tags", vise.RegisterModelRequest{SHA256: art.SHA256})
		wantCode(t, err, vise.CodeInvalid, "not a usable ONNX model")

		_, err = c.RegisterModel(ctx, "metal-tags", vise.RegisterModelRequest{SHA256: strings.Repeat("ab", 32)})
		wantCode(t, err, vise.CodeNotFound, "upload it first")

		_, err = c.RegisterModel(ctx, "Bad Name", vise.RegisterModelRequest{SHA256: art.SHA256})
		wantCode(t, err, vise.CodeInvalid, "invalid model name")

		_, err = c.ModelVersion(ctx, "metal-tags", 1)
		wantCode(t, err, vise.CodeNotFound, "metal-tags not found")
		if ms, _ := c.Models(ctx); len(ms) != 0 {
			t.Errorf("failed registrations left %d model groups", len(ms))
		}
	})
}

// A client that promises more bytes than it sends, then hangs up, stores
// nothing: no blob, no artifact record.
func TestTruncatedUpload(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		data, _ := os.ReadFile(sampleModel)
		sum := sha256.Sum256(data)
		sha := hex.EncodeToString(sum[:])
		status := rawPut(t, s, c.Token, sha, data[:len(data)/2], len(data))
		if status != 0 && status != http.StatusBadRequest {
			t.Errorf("status = %d, want 400 or a closed connection", status)
		}
		if ok, err := c.HasArtifact(ctx, sha); err != nil || ok {
			t.Errorf("after a truncated upload HasArtifact = %v, %v; want false", ok, err)
		}
		entries, _ := filepath.Glob(filepath.Join(dataDir(t, s), "blobs", "sha256", "*", "*"))
		if len(entries) != 0 {
			t.Errorf("blobs left behind: %v", entries)
		}
		// Wrong digest: the content does not match the name it was sent as.
		wrong := strings.Repeat("0", 64)
		if err := c.Upload(ctx, strings.NewReader(string(data)), vise.Artifact{SHA256: wrong, Size: int64(len(data))}); vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), "upload corrupted") {
			t.Errorf("upload under a wrong digest: %v", err)
		}
		if ok, _ := c.HasArtifact(ctx, sha); ok {
			t.Error("a corrupted upload was stored")
		}
	})
}

func dataDir(t *testing.T, s *server.Server) string {
	t.Helper()
	return s.DataDir()
}

// rawPut writes an HTTP request by hand so the body can end early. It
// returns the response status, or 0 if the server closed the connection.
func rawPut(t *testing.T, s *server.Server, token, sha string, body []byte, announce int) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /v1/artifacts/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", sha, token, announce)
	conn.Write(body)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestQualityGate(t *testing.T) {
	cfg := server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0", DataDir: t.TempDir(),
		Gate: "map50>=0.6", AutoApprove: true}
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := client.New(s.URL(), s.AdminToken())
	art, err := c.UploadFile(ctx, sampleModel, nil)
	if err != nil {
		t.Fatal(err)
	}
	low, err := c.RegisterModel(ctx, "m", vise.RegisterModelRequest{SHA256: art.SHA256, Metrics: map[string]float64{"map50": 0.41}, Approve: true})
	if err != nil {
		t.Fatal(err)
	}
	if low.Approval.Status != vise.Rejected || !strings.Contains(low.Approval.Reason, "map50 is 0.41") {
		t.Errorf("below the gate: %+v", low.Approval)
	}
	// A version the gate rejected cannot be approved.
	if _, err := c.Decide(ctx, "m", low.Version, vise.Approved, "override"); vise.ErrorCode(err) != vise.CodeConflict || !strings.Contains(err.Error(), "was rejected (quality gate: map50 is 0.41") {
		t.Errorf("approving a rejected version: %v", err)
	}
	high, _ := c.RegisterModel(ctx, "m", vise.RegisterModelRequest{SHA256: art.SHA256, Metrics: map[string]float64{"map50": 0.75}})
	if high.Approval.Status != vise.Approved || high.Approval.By != "quality-gate" {
		t.Errorf("above the gate with auto-approve: %+v", high.Approval)
	}
	if _, err := server.New(ctx, server.Config{DataDir: t.TempDir(), Gate: "map50 => 0.6"}); vise.ErrorCode(err) != vise.CodeInvalid {
		t.Errorf("bad gate accepted: %v", err)
	}
}
