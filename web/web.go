// Package web is the dashboard `vise server` serves at /: server-rendered
// html/template pages (fleet, deployments, models with approve/reject,
// live inspection, labelling) that refresh themselves with htmx, a uPlot
// chart, and a login for people with read-only (viewer), labeller and admin
// roles.
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"github.com/vise-edge/vise/deviceapi"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/httpapi"
	"github.com/vise-edge/vise/labels"
	"github.com/vise-edge/vise/pipeline"
	"github.com/vise-edge/vise/quality"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/users"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the dashboard; all but Logger are required.
type Options struct {
	Store    *store.Store
	Users    *users.Service
	Registry *registry.Registry
	Pipeline *pipeline.Engine
	Labels   *labels.Service
	Quality  *quality.Monitor // optional: the Inspection page's model-quality charts
	DataDir  string           // holds the session signing key
	Logger   *slog.Logger
}

// Handler serves the dashboard.
type Handler struct {
	store *store.Store
	pipe  *pipeline.Engine
	lab   *labels.Service
	qual  *quality.Monitor
	users *users.Service
	reg   *registry.Registry
	keys  *keyring
	tmpl  *template.Template
	log   *slog.Logger
	mux   *http.ServeMux
	now   func() time.Time
}

// New builds the dashboard.
func New(opts Options) (*Handler, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	keys, err := loadKey(filepath.Join(opts.DataDir, "session.key"))
	if err != nil {
		return nil, err
	}
	h := &Handler{store: opts.Store, pipe: opts.Pipeline, lab: opts.Labels, qual: opts.Quality, users: opts.Users, reg: opts.Registry, keys: keys, log: opts.Logger, mux: http.NewServeMux(), now: time.Now,
		tmpl: template.Must(template.ParseFS(templateFS, "templates/*.html"))}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /login", h.loginForm)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("GET /logout", h.logout)
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/fleet", http.StatusSeeOther) })
	h.mux.Handle("GET /fleet", h.page("fleet", h.fleet))
	h.mux.Handle("GET /deployments", h.page("deployments", h.deployments))
	h.mux.Handle("GET /pipelines", h.page("pipelines", h.pipelines))
	h.mux.Handle("POST /pipelines/{id}/cancel", h.auth(h.cancelExecution))
	h.mux.Handle("GET /models", h.page("models", h.models))
	h.mux.Handle("GET /inspection", h.page("inspection", h.inspection))
	h.mux.Handle("GET /inspection/series", h.auth(h.series))
	h.mux.Handle("GET /inspection/quality", h.auth(h.qualitySeries))
	h.mux.Handle("GET /images/{device}/{msg_id}", h.auth(h.image))
	h.mux.Handle("POST /models/{name}/versions/{version}/{decision}", h.auth(h.decide))
	h.routeLabelling()
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
	h.mux.ServeHTTP(w, r)
}

type ctxKey struct{}

// auth requires a valid session; pages redirect to the login instead.
func (h *Handler) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.session(r)
		if err != nil && !errors.Is(err, errNoSession) {
			h.log.Error("dashboard session check", "err", err)
			http.Error(w, vise.ErrorMessage(err), vise.ErrorCode(err).HTTPStatus())
			return
		}
		if err != nil {
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" && !strings.HasPrefix(r.URL.Path, "/images/") {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

// session reads the cookie. A user's session also needs the user to still
// exist with no password change since it began, and takes the user's current
// role; a token's session is what it says until it expires.
func (h *Handler) session(r *http.Request) (session, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, errNoSession
	}
	s, err := h.keys.decode(c.Value, h.now())
	if err != nil || s.Kind != kindUser {
		return s, err
	}
	u, err := h.users.Get(r.Context(), s.Name)
	if vise.ErrorCode(err) == vise.CodeNotFound || err == nil && u.PasswordChangedAt.After(s.Issued) {
		return session{}, errNoSession
	}
	if err != nil {
		return session{}, err
	}
	s.Role = u.Role
	return s, nil
}

func user(r *http.Request) session { s, _ := r.Context().Value(ctxKey{}).(session); return s }

type navItem struct{ Name, Path string }

var nav = []navItem{{"Fleet", "/fleet"}, {"Deployments", "/deployments"}, {"Pipelines", "/pipelines"}, {"Models", "/models"}, {"Inspection", "/inspection"}, {"Labelling", "/labelling"}}

// view is what every page template gets.
type view struct {
	Title, Page string
	Nav         []navItem
	User        session
	Admin       bool
	CSRF        string
	Flash       string
	Devices     []deviceRow
	Deployments []*vise.Deployment
	Executions  []*vise.Execution
	Models      []modelView
	Results     []resultCard
	Quality     []string   // devices whose model quality the Inspection page plots
	Query       url.Values // the page's query string, for pages with filters
	Label       labelView
}

// page renders a full page, or with ?fragment=1 (htmx polling) only its
// live part.
func (h *Handler) page(name string, fill func(ctx context.Context, v *view) error) http.Handler {
	return h.auth(func(w http.ResponseWriter, r *http.Request) {
		u := user(r)
		c, _ := r.Cookie(cookieName)
		v := &view{Title: strings.ToUpper(name[:1]) + name[1:], Page: "/" + name, Nav: nav, User: u, Admin: u.Role == httpapi.RoleAdmin,
			CSRF: h.keys.csrf(c.Value), Flash: r.URL.Query().Get("flash"), Query: r.URL.Query()}
		if err := fill(r.Context(), v); err != nil {
			h.log.Error("dashboard page", "page", name, "err", err)
			http.Error(w, vise.ErrorMessage(err), vise.ErrorCode(err).HTTPStatus())
			return
		}
		tmpl := name
		if r.URL.Query().Get("fragment") != "" {
			tmpl = map[string]string{"fleet": "fleet-table", "deployments": "deployments-table", "pipelines": "pipelines-table", "inspection": "inspection-cards"}[name]
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := h.tmpl.ExecuteTemplate(w, tmpl, v); err != nil {
			h.log.Error("render dashboard page", "page", name, "err", err)
		}
	})
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) {
	h.renderLogin(w, http.StatusOK, "", localPath(r.URL.Query().Get("next")), "")
}

func (h *Handler) renderLogin(w http.ResponseWriter, status int, msg, next, name string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	h.tmpl.ExecuteTemplate(w, "login", map[string]string{"Error": msg, "Next": next, "User": name})
}

// login exchanges a user name and password, or an API token, for a session
// cookie.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.PostFormValue("next"))
	name, password, token := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("token"))
	var s session
	switch {
	case name != "" || password != "":
		u, err := h.users.Login(r.Context(), name, password, r.RemoteAddr)
		if err != nil {
			if c := vise.ErrorCode(err); c != vise.CodeUnauthorized {
				h.log.Error("dashboard login", users.NameAttr(name), "err", err)
			}
			h.renderLogin(w, loginStatus(err), sentence(vise.ErrorMessage(err)), next, name)
			return
		}
		s = session{Name: u.Name, Role: u.Role, Kind: kindUser}
	case token != "":
		tok, err := h.store.TokenByHash(r.Context(), httpapi.HashToken(token))
		if err != nil {
			h.log.Warn("dashboard login failed", "remote", r.RemoteAddr)
			h.renderLogin(w, http.StatusUnauthorized, "Wrong token.", next, "")
			return
		}
		s = session{Name: tok.Name, Role: tok.Role, Kind: kindToken}
	default:
		h.renderLogin(w, http.StatusBadRequest, "Enter a user name and password, or an API token.", next, "")
		return
	}
	s.Issued = h.now()
	s.Expires = s.Issued.Add(sessionTTL)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: h.keys.encode(s), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(sessionTTL.Seconds())})
	h.log.Info("dashboard login", "user", s.Name, "role", s.Role, "with", s.Kind)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath returns next if it is a path on this site, else "/": no open
// redirect. Browsers read "/\host" as "//host" and drop tabs and newlines,
// and http.Redirect cleans "/../\host" to "/\host", so backslashes and
// control characters are refused anywhere, not only at the start.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') {
		return "/"
	}
	for _, c := range next {
		if unicode.IsControl(c) {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func loginStatus(err error) int {
	if errors.Is(err, users.ErrTooManyAttempts) {
		return http.StatusTooManyRequests
	}
	return vise.ErrorCode(err).HTTPStatus()
}

// sentence capitalises a message for the page: "Wrong user name or password."
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// decide approves or rejects a model version from the models page: admins
// only, with the form's CSRF token.
// adminForm checks a posted form's CSRF token and that an admin sent it;
// on failure it has answered.
func (h *Handler) adminForm(w http.ResponseWriter, r *http.Request, what string) (session, bool) {
	u := user(r)
	if !h.keys.checkCSRF(r) {
		h.log.Warn("dashboard form refused: bad CSRF token", "user", u.Name, "path", r.URL.Path)
		http.Error(w, "form expired or forged (CSRF check failed); reload the page", http.StatusForbidden)
		return u, false
	}
	if u.Role != httpapi.RoleAdmin {
		http.Error(w, what+" needs an admin", http.StatusForbidden)
		return u, false
	}
	return u, true
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	u, ok := h.adminForm(w, r, "approving and rejecting")
	if !ok {
		return
	}
	status := map[string]vise.ApprovalStatus{"approve": vise.Approved, "reject": vise.Rejected}[r.PathValue("decision")]
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || status == "" {
		http.NotFound(w, r)
		return
	}
	mv, err := h.reg.Decide(r.Context(), r.PathValue("name"), version, status, u.Name, "from the dashboard")
	if err != nil {
		http.Error(w, vise.ErrorMessage(err), vise.ErrorCode(err).HTTPStatus())
		return
	}
	flash := mv.Group + " version " + r.PathValue("version") + " is " + string(mv.Approval.Status)
	http.Redirect(w, r, "/models?flash="+url.QueryEscape(flash), http.StatusSeeOther)
}

func (h *Handler) cancelExecution(w http.ResponseWriter, r *http.Request) {
	u, ok := h.adminForm(w, r, "cancelling a pipeline")
	if !ok {
		return
	}
	x, err := h.pipe.Cancel(r.Context(), r.PathValue("id"), u.Name)
	if err != nil {
		http.Error(w, vise.ErrorMessage(err), vise.ErrorCode(err).HTTPStatus())
		return
	}
	http.Redirect(w, r, "/pipelines?flash="+url.QueryEscape("execution "+x.ID+" canceled"), http.StatusSeeOther)
}

// image serves the camera image attached to a result.
func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	res, err := h.store.GetResult(r.Context(), r.PathValue("device"), r.PathValue("msg_id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sha := storedImage(res.Payload)
	if sha == "" {
		http.NotFound(w, r)
		return
	}
	rc, err := h.reg.OpenArtifact(r.Context(), sha, 0, -1)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer rc.Close()
	w.Header().Set("Cache-Control", "private, max-age=86400")
	io.Copy(w, rc)
}

func storedImage(payload json.RawMessage) string {
	var p deviceapi.Result
	json.Unmarshal(payload, &p)
	return p.Image.Stored
}
