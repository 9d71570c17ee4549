package httpapi

import (
	"io"
	"net/http"

	"github.com/vise-edge/vise"
)

func (a *API) routeComponents() {
	a.mux.Handle("POST /v1/components", a.handle(roleAdmin, a.createComponent))
	a.mux.Handle("GET /v1/components", a.handle(roleViewer, a.listComponents))
	a.mux.Handle("GET /v1/components/{name}", a.handle(roleViewer, a.listComponentVersions))
	a.mux.Handle("GET /v1/components/{name}/versions/{version}", a.handle(roleViewer, a.getComponentVersion))
	a.mux.Handle("GET /v1/components/{name}/versions/{version}/recipe.json", a.handle(roleViewer, a.getRecipe))
}

// createComponent takes a recipe (JSON, or YAML: JSON is YAML) whose
// artifacts are already uploaded. 201 when created, 200 when the same
// version with the same content already existed.
func (a *API) createComponent(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		return vise.Errorf(vise.CodeTooLarge, "recipe over %d bytes", maxJSONBody)
	}
	rc, err := vise.ParseRecipe(body)
	if err != nil {
		return err
	}
	cv, created, err := a.reg.CreateComponent(r.Context(), rc, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return writeJSON(w, status, cv)
}

func (a *API) listComponents(w http.ResponseWriter, r *http.Request) error {
	cs, err := a.reg.Components(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cs)
}

func (a *API) listComponentVersions(w http.ResponseWriter, r *http.Request) error {
	cvs, err := a.reg.ComponentVersions(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cvs)
}

func (a *API) getComponentVersion(w http.ResponseWriter, r *http.Request) error {
	cv, err := a.reg.ComponentVersion(r.Context(), r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cv)
}

// getRecipe serves the canonical recipe bytes: exactly what the release
// metadata signs, so a device can verify them.
func (a *API) getRecipe(w http.ResponseWriter, r *http.Request) error {
	cv, err := a.reg.ComponentVersion(r.Context(), r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	b, err := cv.Recipe.Canonical()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}
