package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/vise-edge/vise/httpapi"
	"github.com/vise-edge/vise/server"
)

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o600) }

func hashToken(tok string) string { return httpapi.HashToken(tok) }

func rawJSON(t *testing.T, s *server.Server, token, method, path, body string) httpapi.ErrorBody {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out httpapi.ErrorBody
	json.NewDecoder(resp.Body).Decode(&out)
	return out
}
