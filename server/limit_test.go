package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

// A list limit up to vise.MaxListLimit is honoured; one outside 1..max, or
// not a number, is refused with 400 rather than quietly clamped.
func TestListLimits(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		const stored = 1200
		for i := range stored {
			r := vise.Result{MsgID: fmt.Sprintf("r-%04d", i), Device: "cam-1", Component: "vise.inspect", Payload: []byte(`{}`)}
			if _, err := s.Store.InsertResult(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for limit, want := range map[int]int{vise.MaxListLimit: stored, 1100: 1100, 1: 1, 0: vise.DefaultListLimit} {
			rs, err := c.Results(ctx, "", time.Time{}, limit)
			if err != nil || len(rs) != want {
				t.Errorf("results with limit %d: %d results, %v; want %d", limit, len(rs), err, want)
			}
		}
		for _, path := range []string{"/v1/results", "/v1/deployments", "/v1/executions", "/v1/events"} {
			for _, limit := range []string{"0", "-1", "10001", "1e3", "many"} {
				resp := rawJSON(t, s, c.Token, http.MethodGet, path+"?limit="+limit, "")
				if resp.Error.Code != vise.CodeInvalid || !strings.Contains(resp.Error.Message, "use 1 to 10000") {
					t.Errorf("GET %s?limit=%s: %+v, want invalid naming the range", path, limit, resp.Error)
				}
			}
		}
	})
}

// A page of results ends at the server's byte budget (X-Next-Before tells
// where to go on); the client follows the pages, so `vise results --limit`
// still gets every result asked for: three of 9 MB come as pages of two and
// one.
func TestResultPagesByBytes(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		big := []byte(`{"note":"` + strings.Repeat("x", 9<<20) + `"}`)
		for i := range 3 {
			r := vise.Result{MsgID: fmt.Sprintf("big-%d", i), Device: "cam-1", Component: "vise.inspect", Payload: big}
			if _, err := s.Store.InsertResult(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v1/results?limit=10", nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page []vise.Result
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if len(page) != 2 || resp.Header.Get("X-Next-Before") == "" {
			t.Errorf("first page: %d results, X-Next-Before %q; want 2 and where the next page starts", len(page), resp.Header.Get("X-Next-Before"))
		}
		rs, err := c.Results(ctx, "", time.Time{}, 10)
		if err != nil || len(rs) != 3 {
			t.Errorf("client results: %d, %v; want all 3", len(rs), err)
		}
	})
}
