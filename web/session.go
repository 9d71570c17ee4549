package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	cookieName = "vise_session"
	sessionTTL = 12 * time.Hour
)

// session is who is logged in; it lives in a signed cookie, so the server
// keeps no session state and neither an API token nor a password ever goes
// into a cookie.
type session struct {
	Name    string
	Role    string
	Kind    string    // kindToken or kindUser
	Issued  time.Time // a user session ends when the password changes after this
	Expires time.Time
}

// How a session was started.
const (
	kindToken = "token"
	kindUser  = "user"
)

// keyring signs sessions and CSRF tokens with a key kept in the data
// directory (0600), so sessions survive a restart.
type keyring struct{ key []byte }

func loadKey(path string) (*keyring, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return &keyring{key: b}, nil
	}
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(path, k, 0o600); err != nil {
		return nil, fmt.Errorf("dashboard session key: %w", err)
	}
	return &keyring{key: k}, nil
}

func (k *keyring) mac(parts ...string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (k *keyring) encode(s session) string {
	exp := strconv.FormatInt(s.Expires.Unix(), 10)
	issued := strconv.FormatInt(s.Issued.UnixMicro(), 10)
	payload := base64.RawURLEncoding.EncodeToString([]byte(strings.Join([]string{s.Name, s.Role, exp, s.Kind, issued}, "\x00")))
	return payload + "." + k.mac("session", payload)
}

var errNoSession = errors.New("not logged in")

func (k *keyring) decode(v string, now time.Time) (session, error) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(k.mac("session", payload))) {
		return session{}, errNoSession
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 5 {
		return session{}, errNoSession // including cookies from before users existed: log in again
	}
	exp, _ := strconv.ParseInt(parts[2], 10, 64)
	issued, _ := strconv.ParseInt(parts[4], 10, 64)
	s := session{Name: parts[0], Role: parts[1], Kind: parts[3], Issued: time.UnixMicro(issued), Expires: time.Unix(exp, 0)}
	if now.After(s.Expires) {
		return session{}, errNoSession
	}
	return s, nil
}

// csrf is the token forms carry: bound to the session cookie, so another
// site cannot forge a form post even though the browser sends the cookie.
func (k *keyring) csrf(cookie string) string { return k.mac("csrf", cookie) }

func (k *keyring) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(k.csrf(c.Value)))
}
