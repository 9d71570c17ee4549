package httpapi

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/pki"
)

// EnrollRequest is what an agent sends on first start.
type EnrollRequest struct {
	Token string `json:"token"`
	Name  string `json:"name"`
	CSR   string `json:"csr"` // PEM
}

// EnrollResponse is everything a device needs to take part afterwards.
type EnrollResponse struct {
	Device      string          `json:"device"`
	Certificate string          `json:"certificate"` // PEM
	CA          string          `json:"ca"`          // PEM
	MQTT        string          `json:"mqtt"`        // host:port
	TrustedRoot json.RawMessage `json:"trusted_root"`
}

// DeviceOptions configure the device-facing API.
type DeviceOptions struct {
	Options
	CAPEM    []byte
	MQTTAddr func() string
	Root     func() []byte
}

// NewDevice builds the handler of the device-facing HTTPS listener:
// enrollment (authenticated by a one-time token) and, for enrolled devices
// (authenticated by client certificate), their deployment and signed
// targets.
func NewDevice(opts DeviceOptions) *API {
	a := newAPI(opts.Options, "device")
	a.mux.Handle("POST /v1/enroll", a.handle(roleNone, func(w http.ResponseWriter, r *http.Request) error {
		var req EnrollRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		cert, err := a.fleet.Enroll(r.Context(), req.Token, req.Name, []byte(req.CSR))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, EnrollResponse{Device: req.Name, Certificate: string(cert), CA: string(opts.CAPEM),
			MQTT: opts.MQTTAddr(), TrustedRoot: opts.Root()})
	}))
	a.mux.Handle("GET /v1/device/deployment", a.device(func(w http.ResponseWriter, r *http.Request, device string) error {
		d, err := a.store.CurrentDeployment(r.Context(), device)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, d)
	}))
	a.mux.Handle("GET /v1/release/", a.device(func(w http.ResponseWriter, r *http.Request, _ string) error {
		http.StripPrefix("/v1/release", opts.Release).ServeHTTP(w, r)
		return nil
	}))
	a.mux.Handle("GET /v1/targets/artifacts/{sha256}", a.device(func(w http.ResponseWriter, r *http.Request, _ string) error {
		return a.getArtifact(w, r)
	}))
	a.mux.Handle("GET /v1/targets/components/{name}/{version}/recipe.json", a.device(func(w http.ResponseWriter, r *http.Request, _ string) error {
		return a.getRecipe(w, r)
	}))
	a.mux.Handle("GET /v1/targets/deployments/{file}", a.device(func(w http.ResponseWriter, r *http.Request, _ string) error {
		id, ok := strings.CutSuffix(r.PathValue("file"), ".json")
		if !ok {
			return vise.Errorf(vise.CodeNotFound, "no such target")
		}
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
		return "", "", vise.Errorf(vise.CodeUnauthorized, "%v", err)
	}
	return name, pki.Serial(leaf), nil
}
