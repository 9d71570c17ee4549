package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/vise-edge/vise"
)

func (a *API) routePipelines() {
	a.mux.Handle("GET /v1/pipelines", a.handle(roleViewer, a.listPipelines))
	a.mux.Handle("POST /v1/pipelines", a.handle(roleAdmin, a.applyPipeline))
	a.mux.Handle("GET /v1/pipelines/{name}", a.handle(roleViewer, a.getPipeline))
	a.mux.Handle("POST /v1/pipelines/{name}/executions", a.handle(roleAdmin, a.runPipeline))
	a.mux.Handle("GET /v1/executions", a.handle(roleViewer, a.listExecutions))
	a.mux.Handle("GET /v1/executions/{id}", a.handle(roleViewer, a.getExecution))
	a.mux.Handle("POST /v1/executions/{id}/cancel", a.handle(roleAdmin, a.cancelExecution))
	a.mux.Handle("GET /v1/models/{name}/targets", a.handle(roleViewer, a.getModelTargets))
	a.mux.Handle("PUT /v1/models/{name}/targets", a.handle(roleAdmin, a.setModelTargets))
}

func (a *API) listPipelines(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.store.ListDefinitions(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ds)
}

// applyPipeline takes a definition as YAML in the body.
func (a *API) applyPipeline(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		return vise.Errorf(vise.CodeTooLarge, "pipeline definition over %d bytes", maxJSONBody)
	}
	d, created, err := a.pipe.Apply(r.Context(), body, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, d)
}

func (a *API) getPipeline(w http.ResponseWriter, r *http.Request) error {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return vise.Errorf(vise.CodeInvalid, "version %q is not a positive whole number", v)
		}
		version = n
	}
	d, err := a.store.GetDefinition(r.Context(), r.PathValue("name"), version)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (a *API) runPipeline(w http.ResponseWriter, r *http.Request) error {
	var req vise.RunPipelineRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	x, err := a.pipe.Run(r.Context(), r.PathValue("name"), req.Params, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, x)
}

func (a *API) listExecutions(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	xs, err := a.store.ListExecutions(r.Context(), r.URL.Query().Get("pipeline"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, xs)
}

func (a *API) getExecution(w http.ResponseWriter, r *http.Request) error {
	x, err := a.store.GetExecution(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x)
}

func (a *API) cancelExecution(w http.ResponseWriter, r *http.Request) error {
	x, err := a.pipe.Cancel(r.Context(), r.PathValue("id"), identity(r.Context()).Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, x)
}

func (a *API) getModelTargets(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.store.ModelTargets(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ts)
}

// setModelTargets replaces where a model's approved versions are deployed;
// each target and pipeline must exist.
func (a *API) setModelTargets(w http.ResponseWriter, r *http.Request) error {
	var ts []vise.ModelTarget
	if err := decode(r, &ts); err != nil {
		return err
	}
	for i := range ts {
		if ts[i].Pipeline == "" {
			ts[i].Pipeline = "edge-deploy"
		}
		if _, err := a.store.GetDefinition(r.Context(), ts[i].Pipeline, 0); err != nil {
			return err
		}
		t, err := a.pipe.CheckTarget(r.Context(), ts[i].Target)
		if err != nil {
			return err
		}
		if ts[i].Target != t.String() {
			deprecated(w, vise.TargetDeprecation(ts[i].Target, t))
			ts[i].Target = t.String()
		}
	}
	if err := a.store.SetModelTargets(r.Context(), r.PathValue("name"), ts); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ts)
}
