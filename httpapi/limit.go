package httpapi

import (
	"net/http"
	"strconv"

	"github.com/vise-edge/vise"
)

// queryLimit reads ?limit=N. Absent, it is 0 (the store's default); a value
// that is not a whole number in 1..vise.MaxListLimit is refused, not clamped.
func queryLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, vise.Errorf(vise.CodeInvalid, "limit %q is not a whole number: use 1 to %d", s, vise.MaxListLimit)
	}
	if err := vise.CheckLimit(n); err != nil {
		return 0, err
	}
	return n, nil
}
