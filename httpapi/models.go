package httpapi

import (
	"net/http"

	"github.com/vise-edge/vise"
)

func (a *API) routeModels() {
	a.mux.Handle("GET /v1/models", a.handle(roleViewer, a.listModels))
	a.mux.Handle("GET /v1/models/{name}", a.handle(roleViewer, a.getModel))
	a.mux.Handle("GET /v1/models/{name}/versions", a.handle(roleViewer, a.listModelVersions))
	a.mux.Handle("POST /v1/models/{name}/versions", a.handle(roleAdmin, a.registerModel))
	a.mux.Handle("GET /v1/models/{name}/versions/{version}", a.handle(roleViewer, a.getModelVersion))
	a.mux.Handle("POST /v1/models/{name}/versions/{version}/approve", a.handle(roleAdmin, a.decide(vise.Approved)))
	a.mux.Handle("POST /v1/models/{name}/versions/{version}/reject", a.handle(roleAdmin, a.decide(vise.Rejected)))
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) error {
	gs, err := a.reg.ModelGroups(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gs)
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) error {
	g, err := a.reg.ModelGroup(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (a *API) listModelVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := a.reg.ModelVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, vs)
}

func (a *API) registerModel(w http.ResponseWriter, r *http.Request) error {
	var req vise.RegisterModelRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	mv, err := a.reg.RegisterModel(r.Context(), r.PathValue("name"), req, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, mv)
}

func (a *API) getModelVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := pathInt(r, "version")
	if err != nil {
		return err
	}
	mv, err := a.reg.ModelVersion(r.Context(), r.PathValue("name"), v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mv)
}

func (a *API) decide(status vise.ApprovalStatus) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		v, err := pathInt(r, "version")
		if err != nil {
			return err
		}
		var req vise.DecisionRequest
		if r.ContentLength != 0 {
			if err := decode(r, &req); err != nil {
				return err
			}
		}
		mv, err := a.reg.Decide(r.Context(), r.PathValue("name"), v, status, identity(r.Context()).Name, req.Reason)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, mv)
	}
}
