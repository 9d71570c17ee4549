package httpapi

import (
	"net/http"
	"strconv"

	"github.com/vise-edge/vise"
)

// The labelling queue: viewers look, labellers and admins save.
func (a *API) routeLabels() {
	a.mux.Handle("GET /v1/labels", a.handle(roleViewer, a.listLabels))
	a.mux.Handle("GET /v1/labels/{device}/{msg_id}", a.handle(roleViewer, a.getLabel))
	a.mux.Handle("PUT /v1/labels/{device}/{msg_id}", a.handle(roleLabeller, a.saveLabel))
}

// listLabels: ?device=&model=NAME[@VERSION]&reason=&state=&limit=.
func (a *API) listLabels(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ims, err := a.labels.List(r.Context(), vise.LabelFilter{Device: q.Get("device"), Model: q.Get("model"),
		Reason: vise.LabelReason(q.Get("reason")), State: vise.LabelState(q.Get("state")), Limit: limit})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ims)
}

// getLabel answers one image with an ETag of its label version.
func (a *API) getLabel(w http.ResponseWriter, r *http.Request) error {
	im, err := a.labels.Get(r.Context(), r.PathValue("device"), r.PathValue("msg_id"))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(im.Version)))
	return writeJSON(w, http.StatusOK, im)
}

// saveLabel stores a label; the body names the version it started from,
// and a save over someone else's newer one is a 409 naming them.
func (a *API) saveLabel(w http.ResponseWriter, r *http.Request) error {
	var req vise.SaveLabelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	im, err := a.labels.Save(r.Context(), r.PathValue("device"), r.PathValue("msg_id"), req, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", strconv.Quote(strconv.Itoa(im.Version)))
	return writeJSON(w, http.StatusOK, im)
}
