package httpapi

import (
	"net/http"

	"github.com/vise-edge/vise"
)

// Users are managed by admins only: a viewer does not even see the names.
func (a *API) routeUsers() {
	a.mux.Handle("POST /v1/users", a.handle(roleAdmin, a.createUser))
	a.mux.Handle("GET /v1/users", a.handle(roleAdmin, a.listUsers))
	a.mux.Handle("GET /v1/users/{name}", a.handle(roleAdmin, a.getUser))
	a.mux.Handle("DELETE /v1/users/{name}", a.handle(roleAdmin, a.removeUser))
	a.mux.Handle("PUT /v1/users/{name}/password", a.handle(roleAdmin, a.setUserPassword))
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var req vise.CreateUserRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	u, err := a.users.Create(r.Context(), req, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := a.users.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, us)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.users.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (a *API) removeUser(w http.ResponseWriter, r *http.Request) error {
	if err := a.users.Remove(r.Context(), r.PathValue("name"), identity(r.Context()).Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) setUserPassword(w http.ResponseWriter, r *http.Request) error {
	var req vise.SetPasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.users.SetPassword(r.Context(), r.PathValue("name"), req.Password, identity(r.Context()).Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
