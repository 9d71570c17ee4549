package httpapi

import (
	"net/http"

	"github.com/vise-edge/vise"
)

// verdicts lists one device's pass/reject verdicts, newest first:
// ?device=NAME (required), &result=MSG_ID (only those decided from that
// result), &limit=N.
func (a *API) verdicts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	device := q.Get("device")
	if device == "" {
		return vise.Errorf(vise.CodeInvalid, "verdicts are listed per device: add ?device=NAME")
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	vs, err := a.store.ListVerdicts(r.Context(), device, q.Get("result"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, vs)
}
