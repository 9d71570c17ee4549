package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// An enrollment token's lifetime must be positive when given; only a
// request without one gets the default hour.
func TestEnrollmentTokenTTL(t *testing.T) {
	s, c := start(t, store.SQLite)
	for _, body := range []string{`{"ttl":"0s"}`, `{"ttl":"-1h"}`, `{"ttl":"721h"}`} {
		resp := rawJSON(t, s, c.Token, http.MethodPost, "/v1/enrollment-tokens", body)
		if resp.Error.Code != vise.CodeInvalid || !strings.Contains(resp.Error.Message, "token lifetime") {
			t.Errorf("POST /v1/enrollment-tokens %s: %+v, want invalid", body, resp.Error)
		}
	}
	for ttl, want := range map[time.Duration]time.Duration{0: time.Hour, 10 * time.Minute: 10 * time.Minute} {
		tok, err := c.CreateEnrollmentToken(ctx, "", ttl)
		if err != nil {
			t.Fatal(err)
		}
		if left := time.Until(tok.ExpiresAt); left > want || left < want-time.Minute {
			t.Errorf("token with ttl %v expires in %v, want %v", ttl, left, want)
		}
	}
	_, err := c.CreateEnrollmentToken(ctx, "", -time.Hour)
	wantCode(t, err, vise.CodeInvalid, "token lifetime -1h0m0s")
}
