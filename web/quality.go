package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/vise-edge/vise"
)

// qualityDevices is how many devices the Inspection page plots model
// quality for.
const qualityDevices = 12

// qualitySeries is one device's model-quality windows, baselines and drift
// markers over the last 6 hours, for the Inspection page's charts
// (?device=NAME).
func (h *Handler) qualitySeries(w http.ResponseWriter, r *http.Request) {
	if h.qual == nil {
		http.Error(w, "model-quality monitoring is not running", http.StatusServiceUnavailable)
		return
	}
	s, err := h.qual.Series(r.Context(), r.URL.Query().Get("device"), h.now().Add(-6*time.Hour))
	if err != nil {
		http.Error(w, vise.ErrorMessage(err), vise.ErrorCode(err).HTTPStatus())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s)
}
