// Package httpapi serves Vise's versioned JSON API under /v1/, plus
// /healthz, /readyz and /metrics. Handlers are thin: they decode, call the
// registry or the fleet, and encode; errors carry a vise.Code that picks the
// status, so the CLI and the dashboard read the same messages.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/fleet"
	"github.com/vise-edge/vise/labels"
	"github.com/vise-edge/vise/pipeline"
	"github.com/vise-edge/vise/quality"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/users"
)

// Options configure the API. All but Logger are required.
type Options struct {
	Registry *registry.Registry
	Fleet    *fleet.Fleet
	Store    *store.Store
	Users    *users.Service
	Pipeline *pipeline.Engine
	Labels   *labels.Service
	Datasets *datasets.Service
	Quality  *quality.Monitor // optional: GET /v1/devices/{name}/quality
	// Ready, if set, is checked by /readyz after the database (the MQTT
	// broker connection, say).
	Ready   func(context.Context) error
	Release http.Handler // serves signed release metadata files by name
	// Dashboard, if set, serves everything outside /v1/ (the web UI).
	Dashboard http.Handler
	Logger    *slog.Logger
	Metrics   *prometheus.Registry
}

// API is the HTTP handler.
type API struct {
	reg      *registry.Registry
	fleet    *fleet.Fleet
	store    *store.Store
	pipe     *pipeline.Engine
	labels   *labels.Service
	datasets *datasets.Service
	qual     *quality.Monitor
	readyFn  func(context.Context) error
	users    *users.Service
	log      *slog.Logger
	mux      *http.ServeMux
	metrics  *httpMetrics
}

func newAPI(opts Options, api string) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{reg: opts.Registry, fleet: opts.Fleet, store: opts.Store, users: opts.Users, pipe: opts.Pipeline, labels: opts.Labels, datasets: opts.Datasets, qual: opts.Quality, readyFn: opts.Ready, log: opts.Logger, mux: http.NewServeMux(),
		metrics: newHTTPMetrics(opts.Metrics, api)}
}

// New builds the handler with all routes.
func New(opts Options) *API {
	a := newAPI(opts, "main")
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	a.mux.Handle("GET /readyz", a.handle(roleNone, a.ready))
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Metrics, promhttp.HandlerOpts{}))
	// The whole repository's metadata names every deployment, component
	// and artifact: for people with access, not for devices, which get
	// their own view on the device listener.
	release := http.StripPrefix("/v1/release", opts.Release)
	a.mux.Handle("GET /v1/release/", a.handle(roleViewer, func(w http.ResponseWriter, r *http.Request) error {
		release.ServeHTTP(w, r)
		return nil
	}))
	a.routeArtifacts()
	a.routeModels()
	a.routeComponents()
	a.routeFleet()
	a.routePipelines()
	a.routeUsers()
	a.routeLabels()
	a.routeDatasets()
	a.mux.Handle("GET /v1/events", a.handle(roleViewer, a.events))
	a.mux.Handle("GET /v1/results", a.handle(roleViewer, a.results))
	a.mux.Handle("GET /v1/verdicts", a.handle(roleViewer, a.verdicts))
	a.mux.Handle("GET /v1/devices/{name}/quality", a.handle(roleViewer, a.quality))
	a.mux.Handle("GET /v1/results/{device}/{msg_id}/image", a.handle(roleViewer, a.resultImage))
	a.mux.Handle("/v1/", a.handle(roleNone, func(w http.ResponseWriter, r *http.Request) error {
		return vise.Errorf(vise.CodeNotFound, "no API route %s %s; see the README's API section", r.Method, r.URL.Path)
	}))
	if opts.Dashboard != nil {
		a.mux.Handle("/", opts.Dashboard)
	}
	return a
}

// ServeHTTP adds request ids, logs and metrics around every request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.observe(a.mux).ServeHTTP(w, r)
}

func (a *API) ready(w http.ResponseWriter, r *http.Request) error {
	if err := a.store.Ping(r.Context()); err != nil {
		return err
	}
	if a.readyFn != nil {
		if err := a.readyFn(r.Context()); err != nil {
			return vise.Errorf(vise.CodeUnavailable, "not ready: %w", err)
		}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "database": a.store.Engine()})
}

func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	evs, err := a.store.Events(r.Context(), r.URL.Query().Get("after"), limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []vise.Event{}
	}
	return writeJSON(w, http.StatusOK, evs)
}

// handlerFunc returns an error instead of writing one, so every failure is
// written in one place, the same way.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) handle(need role, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := a.authenticate(r, need)
		if err == nil {
			err = fn(w, r.WithContext(ctx))
		}
		if err != nil {
			a.writeError(w, r, err)
		}
	})
}

// ErrorBody is the JSON of every error response (deviceapi).
type ErrorBody = deviceapi.ErrorBody

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
		// The response had started (a client gone mid-download, say):
		// nothing more can be sent, only logged.
		logger(r.Context(), a.log).Info("response cut short", "err", err)
		return
	}
	code := vise.ErrorCode(err)
	if errors.Is(err, context.Canceled) {
		code = vise.CodeUnavailable
	}
	var body ErrorBody
	body.Error.Code, body.Error.Message, body.Error.RequestID = code, vise.ErrorMessage(err), requestID(r.Context())
	level := slog.LevelInfo
	if code == vise.CodeInternal || code == vise.CodeUnavailable {
		level = slog.LevelError
	}
	logger(r.Context(), a.log).Log(r.Context(), level, "request failed", "code", code, "err", err)
	writeJSON(w, code.HTTPStatus(), body)
}

// writeJSON answers compact JSON: never indented, so a response built from
// stored device messages is no bigger than what was stored (indenting a
// deeply nested message would multiply it).
// deprecated tells the caller, in a Warning header (RFC 9111 5.5, code
// 299), that its request uses something that will go away.
func deprecated(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", `299 vise "`+strings.ReplaceAll(msg, `"`, `'`)+`"`)
}

// writeJSON writes v without HTML escaping, which would turn each <, > and
// & of a stored device message into six bytes; nosniff keeps a browser
// from reading the JSON as anything else.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

const maxJSONBody = 1 << 20

// decode reads a JSON body strictly: unknown fields are errors, so a
// misspelt option is reported instead of ignored.
func decode(r *http.Request, v any) error { return decodeLimit(r, v, maxJSONBody) }

// decodeLimit is decode for bodies up to limit bytes.
func decodeLimit(r *http.Request, v any, limit int64) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return vise.Errorf(vise.CodeTooLarge, "request body over %d bytes", limit)
		}
		if errors.Is(err, io.EOF) {
			return vise.Errorf(vise.CodeInvalid, "request body is empty; send a JSON object")
		}
		return vise.Errorf(vise.CodeInvalid, "invalid JSON body: %w", err)
	}
	if dec.More() {
		return vise.Errorf(vise.CodeInvalid, "invalid JSON body: more than one JSON value")
	}
	return nil
}

func pathInt(r *http.Request, name string) (int, error) {
	v, err := strconv.Atoi(r.PathValue(name))
	if err != nil || v <= 0 {
		return 0, vise.Errorf(vise.CodeInvalid, "%s %q is not a positive whole number", name, r.PathValue(name))
	}
	return v, nil
}

func (a *API) String() string { return fmt.Sprintf("httpapi(%s)", a.store.Engine()) }

// results lists stored results, newest first:
// ?device=NAME&since=RFC3339&before=RFC3339&limit=N. The response's
// X-Next-Before header, when present, is the before= of the next page.
func (a *API) results(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var since, before time.Time
	for name, dst := range map[string]*time.Time{"since": &since, "before": &before} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return vise.Errorf(vise.CodeInvalid, "%s %q: use RFC 3339, e.g. 2026-11-25T08:00:00Z", name, s)
			}
			*dst = t
		}
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = vise.DefaultListLimit // set here too, for X-Next-Before
	}
	rs, more, err := a.store.ListResultsBefore(r.Context(), q.Get("device"), since, before, limit)
	if err == nil && more && len(rs) > 0 {
		w.Header().Set("X-Next-Before", rs[len(rs)-1].ReceivedAt.Format(time.RFC3339Nano))
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rs)
}

// resultImage serves the camera image a device attached to a result.
func (a *API) resultImage(w http.ResponseWriter, r *http.Request) error {
	res, err := a.store.GetResult(r.Context(), r.PathValue("device"), r.PathValue("msg_id"))
	if err != nil {
		return err
	}
	var p struct {
		Image struct {
			Stored string `json:"stored"`
		} `json:"image"`
	}
	json.Unmarshal(res.Payload, &p)
	if p.Image.Stored == "" {
		return vise.Errorf(vise.CodeNotFound, "result %s came without an image (devices attach images of defects)", res.MsgID)
	}
	rc, err := a.reg.OpenArtifact(r.Context(), p.Image.Stored, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(rc, head)
	w.Header().Set("Content-Type", http.DetectContentType(head[:n]))
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.Write(head[:n])
	_, err = io.Copy(w, rc)
	return err
}
