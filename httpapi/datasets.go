package httpapi

import (
	"net/http"

	"github.com/vise-edge/vise"
)

// Dataset versions: viewers read, admins make them.
func (a *API) routeDatasets() {
	a.mux.Handle("GET /v1/datasets", a.handle(roleViewer, a.listDatasets))
	a.mux.Handle("GET /v1/datasets/{name}/versions/{version}", a.handle(roleViewer, a.getDataset))
	a.mux.Handle("GET /v1/datasets/{name}/versions/{version}/manifest", a.handle(roleViewer, a.datasetManifest))
	a.mux.Handle("POST /v1/datasets/{name}/versions", a.handle(roleAdmin, a.createDataset))
	a.mux.Handle("POST /v1/datasets/{name}/imports", a.handle(roleAdmin, a.importDataset))
}

// maxImportBody bounds an import's JSON (about 300 bytes an image).
const maxImportBody = 128 << 20

func (a *API) listDatasets(w http.ResponseWriter, r *http.Request) error {
	dvs, err := a.datasets.List(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, dvs)
}

func (a *API) dataset(r *http.Request) (*vise.DatasetVersion, error) {
	v, err := pathInt(r, "version")
	if err != nil {
		return nil, err
	}
	return a.datasets.Get(r.Context(), r.PathValue("name"), v)
}

func (a *API) getDataset(w http.ResponseWriter, r *http.Request) error {
	dv, err := a.dataset(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, dv)
}

func (a *API) datasetManifest(w http.ResponseWriter, r *http.Request) error {
	dv, err := a.dataset(r)
	if err != nil {
		return err
	}
	m, err := a.datasets.Manifest(r.Context(), dv)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

// createDataset answers 201 with a new version, 200 with the one that has
// the same content already.
func (a *API) createDataset(w http.ResponseWriter, r *http.Request) error {
	var req vise.CreateDatasetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	dv, created, err := a.datasets.Create(r.Context(), r.PathValue("name"), req, identity(r.Context()).Name)
	return writeCreated(w, dv, created, err)
}

func (a *API) importDataset(w http.ResponseWriter, r *http.Request) error {
	var req vise.ImportDatasetRequest
	if err := decodeLimit(r, &req, maxImportBody); err != nil {
		return err
	}
	dv, created, err := a.datasets.Import(r.Context(), r.PathValue("name"), req, identity(r.Context()).Name)
	return writeCreated(w, dv, created, err)
}

func writeCreated(w http.ResponseWriter, v any, created bool, err error) error {
	if err != nil {
		return err
	}
	if created {
		return writeJSON(w, http.StatusCreated, v)
	}
	return writeJSON(w, http.StatusOK, v)
}
