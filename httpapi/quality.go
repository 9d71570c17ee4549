package httpapi

import (
	"net/http"
	"time"

	"github.com/vise-edge/vise"
)

// quality is a device's model-quality windows, baselines and drift
// markers: ?since=DURATION (default 6h).
func (a *API) quality(w http.ResponseWriter, r *http.Request) error {
	if a.qual == nil {
		return vise.Errorf(vise.CodeUnavailable, "model-quality monitoring is not running on this server")
	}
	since, err := sinceParam(r.URL.Query().Get("since"), 6*time.Hour)
	if err != nil {
		return err
	}
	device := r.PathValue("name")
	if _, err := a.store.GetDevice(r.Context(), device); err != nil {
		return err
	}
	s, err := a.qual.Series(r.Context(), device, time.Now().Add(-since))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s)
}

// sinceParam reads a look-back duration ("6h", "30m"), positive and at most 31 days.
func sinceParam(v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > 31*24*time.Hour {
		return 0, vise.Errorf(vise.CodeInvalid, "since %q: give a duration such as 6h or 30m, at most 744h", v)
	}
	return d, nil
}
