// Package users manages the people who log in to the dashboard with a name
// and password: Argon2id password hashes in the store, login checks that
// answer the same for an unknown user as for a wrong password, a throttle
// that slows guessing per user and per address, and a failure counter.
package users

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Roles a user can have; the same as an API token's.
const (
	RoleViewer = "viewer"
	RoleAdmin  = "admin"
	// RoleLabeller looks, like a viewer, and labels images.
	RoleLabeller = "labeller"
)

// ErrTooManyAttempts is in the chain of a login refused by the throttle,
// so the dashboard can answer 429 rather than 401.
var ErrTooManyAttempts = errors.New("too many failed logins")

// Options configure a Service. Store is required.
type Options struct {
	Store   *store.Store
	Logger  *slog.Logger          // default: discard
	Metrics prometheus.Registerer // default: counters not registered
	Params  Params                // default: DefaultParams
	Now     func() time.Time      // default: time.Now
	// Hashing bounds how many passwords are hashed at once, since each
	// takes Params.Memory; default 2.
	Hashing int
}

// Service is safe for concurrent use.
type Service struct {
	store    *store.Store
	log      *slog.Logger
	params   Params
	sem      chan struct{}
	byUser   *throttle
	byAddr   *throttle
	failures *prometheus.CounterVec

	dummyOnce sync.Once
	dummy     string // a hash to check unknown users against, so they take as long
}

// New makes a Service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Params == (Params{}) {
		opts.Params = DefaultParams
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hashing <= 0 {
		opts.Hashing = 2
	}
	s := &Service{store: opts.Store, log: opts.Logger, params: opts.Params, sem: make(chan struct{}, opts.Hashing),
		// Five free tries per user name, then 1 s, 2 s, 4 s ... up to a
		// minute between tries; an address may try more names.
		byUser: newThrottle(5, time.Second, time.Minute, opts.Now),
		byAddr: newThrottle(20, time.Second, time.Minute, opts.Now),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vise_login_failures_total",
			Help: "Failed dashboard logins with a user name and password, by reason (bad_credentials, throttled)."}, []string{"reason"}),
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(s.failures)
	}
	return s
}

// Create adds a user.
func (s *Service) Create(ctx context.Context, req vise.CreateUserRequest, by string) (*vise.User, error) {
	if err := validate(req.Name, req.Role); err != nil {
		return nil, err
	}
	if err := CheckPassword(req.Password); err != nil {
		return nil, err
	}
	h, err := s.hash(ctx, req.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.store.CreateUser(ctx, req.Name, req.Role, h, by)
	if err != nil {
		return nil, err
	}
	s.log.Info("user created", "user", u.Name, "role", u.Role, "by", by)
	return u, nil
}

func validate(name, role string) error {
	if err := vise.ValidateName("user", name); err != nil {
		return err
	}
	if role != RoleViewer && role != RoleAdmin && role != RoleLabeller {
		return vise.Errorf(vise.CodeInvalid, "invalid role %q: use viewer (looks only), labeller (may also label images) or admin (may also approve, deploy and manage users)", role)
	}
	return nil
}

// Get returns a user.
func (s *Service) Get(ctx context.Context, name string) (*vise.User, error) {
	return s.store.GetUser(ctx, name)
}

// List returns all users by name.
func (s *Service) List(ctx context.Context) ([]*vise.User, error) { return s.store.ListUsers(ctx) }

// Remove deletes a user; its dashboard sessions end at their next request.
func (s *Service) Remove(ctx context.Context, name, by string) error {
	if err := s.store.DeleteUser(ctx, name, by); err != nil {
		return err
	}
	s.log.Info("user removed", "user", name, "by", by)
	return nil
}

// SetPassword replaces a user's password; its dashboard sessions end.
func (s *Service) SetPassword(ctx context.Context, name, password, by string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	if _, err := s.store.GetUser(ctx, name); err != nil {
		return err // before spending a hash on it
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	if err := s.store.SetUserPassword(ctx, name, h, by); err != nil {
		return err
	}
	s.log.Info("user password changed", "user", name, "by", by)
	return nil
}

// hash runs HashPassword within the concurrency bound.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return HashPassword(pw, s.params), nil
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.sem }

// errBadLogin is all a caller learns about a failed login: the same for an
// unknown user as for a wrong password.
var errBadLogin = vise.Errorf(vise.CodeUnauthorized, "wrong user name or password")

// Login checks a user name and password from remote (host:port or host) and
// returns the user, or an unauthorized error that does not say which part
// was wrong. Failures are logged (never the password) and counted.
func (s *Service) Login(ctx context.Context, name, password, remote string) (*vise.User, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	userKey, addrKey := "user:"+name, "addr:"+host(remote)
	if err := s.throttled(name, remote, userKey, addrKey); err != nil {
		return nil, err
	}
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	// Again, now that attempts running alongside this one have counted.
	if err := s.throttled(name, remote, userKey, addrKey); err != nil {
		return nil, err
	}
	u, stored, err := s.store.UserCredentials(ctx, name)
	switch {
	case vise.ErrorCode(err) == vise.CodeNotFound || len(password) > maxPasswordBytes:
		VerifyPassword(s.dummyHash(), password) // take as long as a real check
		return nil, s.fail(name, remote, "unknown user or overlong password", userKey, addrKey)
	case err != nil:
		return nil, err
	}
	ok, err := VerifyPassword(stored, password)
	if err != nil {
		s.log.Error("stored password hash is unusable; set a new password with 'vise user passwd'", "user", name, "err", err)
	}
	if !ok {
		return nil, s.fail(name, remote, "wrong password", userKey, addrKey)
	}
	s.byUser.reset(userKey) // the address keeps its count: one known password must not unlock guessing others
	s.log.Info("user logged in", "user", u.Name, "role", u.Role, "remote", remote)
	return u, nil
}

func (s *Service) throttled(name, remote, userKey, addrKey string) error {
	wait := max(s.byUser.wait(userKey), s.byAddr.wait(addrKey))
	if wait <= 0 {
		return nil
	}
	s.failures.WithLabelValues("throttled").Inc()
	s.log.Warn("login refused: too many failed attempts", NameAttr(name), "remote", remote, "retry_in", wait.Round(time.Second))
	secs := int(wait.Round(time.Second) / time.Second)
	return &vise.Error{Code: vise.CodeUnauthorized, Err: ErrTooManyAttempts,
		Message: "too many failed logins; wait " + strconv.Itoa(max(secs, 1)) + " s and try again"}
}

func (s *Service) fail(name, remote, reason, userKey, addrKey string) error {
	s.byUser.fail(userKey)
	s.byAddr.fail(addrKey)
	s.failures.WithLabelValues("bad_credentials").Inc()
	s.log.Warn("login failed", NameAttr(name), "remote", remote, "reason", reason)
	return errBadLogin
}

// NameAttr is the "user" of a log line about a login attempt: the name as
// typed if it could be a user name, else only that it was not one. People
// type their password into the name field; it must not reach the log.
func NameAttr(name string) slog.Attr {
	if vise.ValidateName("user", name) != nil {
		return slog.String("user", "(not a valid user name; not logged)")
	}
	return slog.String("user", name)
}

func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy = HashPassword("not a password anyone has", s.params) })
	return s.dummy
}

func host(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
