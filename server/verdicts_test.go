package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

// Verdicts the devices sent are read back per device, newest first, and
// by the result they were decided from; without a device the API says to
// name one.
func TestVerdictsReadBack(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		for _, v := range []vise.Verdict{
			{MsgID: "v-1", Device: "cam-1", Component: "vise.inspect", ResultID: "r-1", PartID: "P-1", Reject: true, Payload: []byte(`{"reject":true}`)},
			{MsgID: "v-2", Device: "cam-1", Component: "vise.inspect", ResultID: "r-2", Payload: []byte(`{"reject":false}`)},
			{MsgID: "v-3", Device: "cam-2", Component: "vise.inspect", ResultID: "r-1", Reject: true, Payload: []byte(`{"reject":true}`)},
		} {
			if _, err := s.Store.InsertVerdict(ctx, v); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond) // distinct received_at, for the order
		}
		got, err := c.Verdicts(ctx, "cam-1", "", 0)
		if err != nil || len(got) != 2 || got[0].MsgID != "v-2" || got[1].MsgID != "v-1" || !got[1].Reject || got[1].PartID != "P-1" {
			t.Errorf("cam-1's verdicts: %+v, %v; want v-2 then v-1 (reject, part P-1)", got, err)
		}
		got, err = c.Verdicts(ctx, "cam-1", "r-1", 0)
		if err != nil || len(got) != 1 || got[0].MsgID != "v-1" {
			t.Errorf("cam-1's verdicts on r-1: %+v, %v; want v-1 only", got, err)
		}
		resp := rawJSON(t, s, c.Token, http.MethodGet, "/v1/verdicts", "")
		if resp.Error.Code != vise.CodeInvalid || !strings.Contains(resp.Error.Message, "?device=NAME") {
			t.Errorf("verdicts without a device: %+v; want invalid, naming ?device=", resp.Error)
		}
	})
}
