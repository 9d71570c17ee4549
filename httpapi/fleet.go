package httpapi

import (
	"net/http"
	"time"

	"github.com/vise-edge/vise"
)

func (a *API) routeFleet() {
	a.mux.Handle("POST /v1/devices", a.handle(roleAdmin, a.createDevice))
	a.mux.Handle("GET /v1/devices", a.handle(roleViewer, a.listDevices))
	a.mux.Handle("GET /v1/devices/{name}", a.handle(roleViewer, a.getDevice))
	a.mux.Handle("POST /v1/devices/{name}/revoke", a.handle(roleAdmin, a.revokeDevice))
	a.mux.Handle("POST /v1/enrollment-tokens", a.handle(roleAdmin, a.createEnrollmentToken))
	a.mux.Handle("POST /v1/groups", a.handle(roleAdmin, a.createGroup))
	a.mux.Handle("GET /v1/groups", a.handle(roleViewer, a.listGroups))
	a.mux.Handle("GET /v1/groups/{name}", a.handle(roleViewer, a.getGroup))
	a.mux.Handle("PUT /v1/groups/{name}/devices/{device}", a.handle(roleAdmin, a.addMember))
	a.mux.Handle("POST /v1/deployments", a.handle(roleAdmin, a.createDeployment))
	a.mux.Handle("GET /v1/deployments", a.handle(roleViewer, a.listDeployments))
	a.mux.Handle("GET /v1/deployments/{id}", a.handle(roleViewer, a.getDeployment))
	a.mux.Handle("GET /v1/deployments/{id}/document", a.handle(roleViewer, a.getDeploymentDocument))
}

func (a *API) createDevice(w http.ResponseWriter, r *http.Request) error {
	var req vise.CreateDeviceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := a.fleet.CreateDevice(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, d)
}

func (a *API) listDevices(w http.ResponseWriter, r *http.Request) error {
	ds, err := a.fleet.Devices(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ds)
}

func (a *API) getDevice(w http.ResponseWriter, r *http.Request) error {
	d, err := a.fleet.Device(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request) error {
	var req vise.CreateGroupRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	g, err := a.fleet.CreateGroup(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, g)
}

func (a *API) listGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := a.fleet.Groups(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, gs)
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := a.fleet.Group(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request) error {
	if err := a.fleet.AddGroupMember(r.Context(), r.PathValue("name"), r.PathValue("device")); err != nil {
		return err
	}
	g, err := a.fleet.Group(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (a *API) createDeployment(w http.ResponseWriter, r *http.Request) error {
	var req vise.CreateDeploymentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	d, err := a.fleet.CreateDeployment(r.Context(), req, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, d)
}

// listDeployments takes ?target=device:NAME or group:NAME and ?limit=N.
func (a *API) listDeployments(w http.ResponseWriter, r *http.Request) error {
	var target *vise.Target
	if s := r.URL.Query().Get("target"); s != "" {
		t, old, err := vise.ParseTarget(s)
		if err != nil {
			return err
		}
		if old {
			deprecated(w, vise.TargetDeprecation(s, t))
		}
		target = &t
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	ds, err := a.fleet.Deployments(r.Context(), target, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ds)
}

func (a *API) getDeployment(w http.ResponseWriter, r *http.Request) error {
	d, err := a.fleet.Deployment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (a *API) getDeploymentDocument(w http.ResponseWriter, r *http.Request) error {
	b, err := a.fleet.DocumentBytes(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

func (a *API) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	rev, err := a.fleet.Revoke(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rev)
}

// TokenRequest asks for an enrollment token.
type TokenRequest struct {
	Group string         `json:"group,omitempty"`
	TTL   *vise.Duration `json:"ttl,omitempty"` // absent: 1h; "0s" or less is refused
}

// TokenResponse carries the token once; only its hash is stored.
type TokenResponse struct {
	Token     string    `json:"token"`
	Group     string    `json:"group,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *API) createEnrollmentToken(w http.ResponseWriter, r *http.Request) error {
	var req TokenRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	ttl := time.Hour
	if req.TTL != nil {
		ttl = time.Duration(*req.TTL)
	}
	tok, exp, err := a.fleet.CreateEnrollmentToken(r.Context(), req.Group, ttl, identity(r.Context()).Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, TokenResponse{Token: tok, Group: req.Group, ExpiresAt: exp})
}
