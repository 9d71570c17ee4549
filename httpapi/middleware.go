package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
	keyIdentity
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func logger(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return fallback
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer, api string) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vise_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vise_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"route"}),
	}
	if reg != nil {
		prometheus.WrapRegistererWith(prometheus.Labels{"api": api}, reg).MustRegister(m.requests, m.duration)
	}
	return m
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives each request an id (the caller's X-Request-Id if it is
// sane), a logger carrying it, an access log line and metrics by route
// pattern (never by raw path, which would explode label cardinality).
func (a *API) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			id = rand.Text()[:16]
		}
		w.Header().Set("X-Request-Id", id)
		l := a.log.With("request_id", id)
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyLogger, l)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				l.Error("panic in handler", "panic", p, "path", r.URL.Path)
				if sw.status == 0 {
					http.Error(sw, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
				}
			}
			_, route := a.mux.Handler(r)
			if route == "" {
				route = "unmatched"
			}
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			a.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
			a.metrics.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			if route != "GET /healthz" && route != "GET /metrics" {
				l.Info("http", "method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes, "took", time.Since(start).Round(time.Microsecond))
			}
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

type role int

const (
	roleNone role = iota
	roleViewer
	roleLabeller // a labeller or an admin
	roleAdmin
)

// Roles a token can have.
const (
	RoleAdmin    = "admin"
	RoleViewer   = "viewer"
	RoleLabeller = "labeller"
)

// Identity is who made a request.
type Identity struct {
	Name string
	Role string
}

func identity(ctx context.Context) Identity {
	id, _ := ctx.Value(keyIdentity).(Identity)
	return id
}

// MayLabel tells whether a role may save labels.
func MayLabel(role string) bool { return role == RoleAdmin || role == RoleLabeller }

// HashToken is how tokens are stored: only a digest, so a database dump does
// not hand out credentials.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func (a *API) authenticate(r *http.Request, need role) (context.Context, error) {
	ctx := r.Context()
	if need == roleNone {
		return ctx, nil
	}
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return ctx, vise.Errorf(vise.CodeUnauthorized, "missing API token: send 'Authorization: Bearer <token>' (the CLI reads VISE_TOKEN)")
	}
	t, err := a.store.TokenByHash(ctx, HashToken(token))
	if err != nil {
		return ctx, err
	}
	if need == roleAdmin && t.Role != RoleAdmin {
		return ctx, vise.Errorf(vise.CodeForbidden, "token %q has role %s; this needs an admin token", t.Name, t.Role)
	}
	if need == roleLabeller && !MayLabel(t.Role) {
		return ctx, vise.Errorf(vise.CodeForbidden, "token %q has role %s; labelling needs a labeller or admin", t.Name, t.Role)
	}
	return context.WithValue(ctx, keyIdentity, Identity{Name: t.Name, Role: t.Role}), nil
}
