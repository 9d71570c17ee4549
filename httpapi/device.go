package httpapi

import (
	"crypto/tls"
	"github.com/vise-edge/vise/deviceapi"
	"net/http"
	"strings"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/fleet"
	"github.com/vise-edge/vise/pki"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/release"
)

// EnrollRequest is what an agent sends on first start (deviceapi).
type EnrollRequest = deviceapi.EnrollRequest

// EnrollResponse is everything a device needs to take part afterwards.
type EnrollResponse = deviceapi.EnrollResponse

// DeviceOptions configure the device-facing API.
type DeviceOptions struct {
	Options
	CAPEM    []byte
	MQTTAddr func() string
	// Repo is the signed release metadata; each device is served its own
	// view of it (release.View).
	Repo *release.Repo
}

// NewDevice builds the handler of the device-facing HTTPS listener:
// enrollment (authenticated by a one-time token) and, for enrolled devices
// (authenticated by client certificate), their deployment and signed
// targets.
func NewDevice(opts DeviceOptions) *API {
	a := newAPI(opts.Options, "device")
	a.mux.Handle("POST "+deviceapi.EnrollPath, a.handle(roleNone, func(w http.ResponseWriter, r *http.Request) error {
		var req EnrollRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		cert, err := a.fleet.Enroll(r.Context(), req.Token, req.Name, []byte(req.CSR))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, EnrollResponse{Device: req.Name, Certificate: string(cert), CA: string(opts.CAPEM),
			MQTT: opts.MQTTAddr(), TrustedRoot: opts.Repo.RootJSON()})
	}))
	a.mux.Handle("GET "+deviceapi.DeploymentPath, a.device(func(w http.ResponseWriter, r *http.Request, device string) error {
		d, err := a.store.CurrentDeployment(r.Context(), device)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, d)
	}))
	a.mux.Handle("GET /v1/release/{file}", a.device(func(w http.ResponseWriter, r *http.Request, device string) error {
		v, err := a.view(r, opts.Repo, device)
		if err != nil {
			return err
		}
		b, err := v.Metadata(opts.Repo, r.PathValue("file"))
		if err != nil {
			return vise.Errorf(vise.CodeNotFound, "no such release metadata file")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, err = w.Write(b)
		return err
	}))
	// Targets: only what the device's view lists. Anything else is the same
	// 404 whether it exists or not, so guessing ids and digests tells nothing.
	target := func(path func(r *http.Request) (string, bool), serve func(w http.ResponseWriter, r *http.Request) error) http.Handler {
		return a.device(func(w http.ResponseWriter, r *http.Request, device string) error {
			p, ok := path(r)
			if !ok {
				return errNoTarget
			}
			v, err := a.view(r, opts.Repo, device)
			if err != nil {
				return err
			}
			if !v.Has(p) {
				return errNoTarget
			}
			return serve(w, r)
		})
	}
	a.mux.Handle("GET /v1/targets/artifacts/{sha256}", target(func(r *http.Request) (string, bool) {
		return registry.ArtifactTarget(r.PathValue("sha256")), true
	}, a.getArtifact))
	a.mux.Handle("GET /v1/targets/components/{name}/{version}/recipe.json", target(func(r *http.Request) (string, bool) {
		return registry.RecipeTarget(r.PathValue("name"), r.PathValue("version")), true
	}, a.getRecipe))
	a.mux.Handle("GET /v1/targets/deployments/{file}", target(func(r *http.Request) (string, bool) {
		id, ok := strings.CutSuffix(r.PathValue("file"), ".json")
		return fleet.DeploymentTarget(id), ok
	}, func(w http.ResponseWriter, r *http.Request) error {
		id, _ := strings.CutSuffix(r.PathValue("file"), ".json")
		b, err := a.fleet.DocumentBytes(r.Context(), id)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		_, err = w.Write(b)
		return err
	}))
	a.mux.Handle("/", a.handle(roleNone, func(w http.ResponseWriter, r *http.Request) error {
		return vise.Errorf(vise.CodeNotFound, "no device API route %s %s", r.Method, r.URL.Path)
	}))
	return a
}

var errNoTarget = vise.Errorf(vise.CodeNotFound, "no such target")

// view is the device's view of the release metadata.
func (a *API) view(r *http.Request, repo *release.Repo, device string) (*release.View, error) {
	v, err := repo.View(device, func() ([]release.Grant, error) { return a.fleet.Grants(r.Context(), device) })
	if err != nil && vise.ErrorCode(err) == vise.CodeInternal {
		return nil, vise.Errorf(vise.CodeUnavailable, "release metadata for %s: %w", device, err)
	}
	return v, err
}

// device authenticates a request by its client certificate (verified by
// the TLS layer against the device CA) and checks it is the device's
// current, unrevoked certificate.
func (a *API) device(fn func(w http.ResponseWriter, r *http.Request, device string) error) http.Handler {
	return a.handle(roleNone, func(w http.ResponseWriter, r *http.Request) error {
		name, serial, err := PeerDevice(r.TLS)
		if err != nil {
			return err
		}
		if err := a.fleet.Authorize(r.Context(), name, serial); err != nil {
			return err
		}
		return fn(w, r, name)
	})
}

// PeerDevice reads the device identity of a verified client certificate.
func PeerDevice(state *tls.ConnectionState) (device, serial string, err error) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return "", "", vise.Errorf(vise.CodeUnauthorized, "a device client certificate is required")
	}
	leaf := state.PeerCertificates[0]
	name, err := pki.DeviceName(leaf)
	if err != nil {
		return "", "", vise.Errorf(vise.CodeUnauthorized, "%w", err)
	}
	return name, pki.Serial(leaf), nil
}
