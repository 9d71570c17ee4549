package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vise-edge/vise/store"
)

func TestObservability(t *testing.T) {
	s, c := start(t, store.SQLite)
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("X-Request-Id", "trace-abc.123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "trace-abc.123" {
		t.Errorf("X-Request-Id = %q, want the caller's id echoed", got)
	}
	// An unusable caller id is replaced, not echoed (it ends up in logs).
	req.Header.Set("X-Request-Id", "bad id with spaces and a very long tail that goes on and on and on past sixty-four chars")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \n") {
		t.Errorf("X-Request-Id = %q, want a fresh id", got)
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/nothing": 404} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err = http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`vise_http_requests_total{api="main",code="200",route="GET /v1/models"} 2`, "vise_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
