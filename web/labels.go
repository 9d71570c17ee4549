package web

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/httpapi"
)

// The labelling page: the queue's images one at a time, drawn on by
// label.js, which reads and saves them through the JSON routes here (the
// session's, not an API token's).
func (h *Handler) routeLabelling() {
	h.mux.Handle("GET /labelling", h.page("labelling", h.labelling))
	h.mux.Handle("GET /labelling/items/{device}/{msg_id}", h.auth(h.labelItem))
	h.mux.Handle("POST /labelling/items/{device}/{msg_id}", h.auth(h.saveLabelItem))
}

// queueSize is how many images one page load walks through.
const queueSize = 1000

type labelView struct {
	Device, Model, Reason, State string
	MayLabel                     bool
	Reasons, States              []string // the filters' choices; "" is any
	Queue                        string   // JSON: [{"device", "msg_id"}...]
	Count                        int
}

type queueEntry struct {
	Device string `json:"device"`
	MsgID  string `json:"msg_id"`
}

// labelling fills the page with the filtered queue. Without a state, the
// page shows new images: the work still to do.
func (h *Handler) labelling(ctx context.Context, v *view) error {
	q := v.Query
	l := labelView{Device: q.Get("device"), Model: q.Get("model"), Reason: q.Get("reason"), State: q.Get("state"), MayLabel: httpapi.MayLabel(v.User.Role),
		Reasons: []string{"", "uncertain", "defect", "sample"}, States: []string{"new", "labelled", "skipped", ""}}
	if !q.Has("state") {
		l.State = string(vise.LabelNew)
	}
	ims, err := h.lab.List(ctx, vise.LabelFilter{Device: l.Device, Model: l.Model, Reason: vise.LabelReason(l.Reason), State: vise.LabelState(l.State), Limit: queueSize})
	if err != nil {
		return err
	}
	entries := make([]queueEntry, len(ims))
	for i, im := range ims {
		entries[i] = queueEntry{im.Device, im.MsgID}
	}
	b, _ := json.Marshal(entries)
	l.Queue, l.Count = string(b), len(entries)
	v.Label = l
	return nil
}

func (h *Handler) labelItem(w http.ResponseWriter, r *http.Request) {
	im, err := h.lab.Get(r.Context(), r.PathValue("device"), r.PathValue("msg_id"))
	if err != nil {
		h.jsonError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, im)
}

// saveLabelItem saves from the page: labellers and admins, with the
// page's CSRF token in the X-CSRF-Token header.
func (h *Handler) saveLabelItem(w http.ResponseWriter, r *http.Request) {
	u := user(r)
	if !h.csrfHeader(r) {
		h.log.Warn("label save refused: bad CSRF token", "user", u.Name)
		h.jsonError(w, vise.Errorf(vise.CodeForbidden, "page expired or forged (CSRF check failed); reload the page"))
		return
	}
	if !httpapi.MayLabel(u.Role) {
		h.jsonError(w, vise.Errorf(vise.CodeForbidden, "%s is a %s: labelling needs a labeller or admin; viewers only look", u.Name, u.Role))
		return
	}
	var req vise.SaveLabelRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		h.jsonError(w, vise.Errorf(vise.CodeInvalid, "invalid label: %w", err))
		return
	}
	im, err := h.lab.Save(r.Context(), r.PathValue("device"), r.PathValue("msg_id"), req, u.Name)
	if err != nil {
		h.jsonError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, im)
}

func (h *Handler) csrfHeader(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	return err == nil && hmac.Equal([]byte(r.Header.Get("X-CSRF-Token")), []byte(h.keys.csrf(c.Value)))
}

// jsonError answers as the API does, so label.js shows the message.
func (h *Handler) jsonError(w http.ResponseWriter, err error) {
	code := vise.ErrorCode(err)
	if code == vise.CodeInternal || code == vise.CodeUnavailable || errors.Is(err, context.Canceled) {
		h.log.Error("labelling", "err", err)
	}
	var body httpapi.ErrorBody
	body.Error.Code, body.Error.Message = code, vise.ErrorMessage(err)
	writeJSON(w, code.HTTPStatus(), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
