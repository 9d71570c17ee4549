package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// After a login the dashboard goes to next= only if it is a path on this
// site; anything a browser could read as another host goes to "/".
func TestLoginNextStaysOnSite(t *testing.T) {
	s, _ := startServer(t)
	for next, want := range map[string]string{
		"/models":                 "/models",
		"/inspection?device=cam1": "/inspection?device=cam1",
		"":                        "/",
		"//evil.com":              "/",
		"/\\evil.com":             "/",
		"\\\\evil.com":            "/",
		"/\t/evil.com":            "/",
		"/\n/evil.com":            "/",
		"/\x00/evil.com":          "/",
		"/../\\evil.com":          "/",
		"/./\\evil.com":           "/",
		"https://evil.com":        "/",
		"https:/evil.com":         "/",
		"javascript:alert(1)":     "/",
		"evil.com":                "/",
		"/%2F%2Fevil.com":         "/",
	} {
		// One round trip, so the raw Location is seen even where a client
		// would refuse to follow it.
		form := url.Values{"token": {s.AdminToken()}, "next": {next}}
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("login with next=%q: %d, Location %q; want 303 to %q", next, resp.StatusCode, got, want)
		}
	}

	// The login form carries only a local next= into its hidden field.
	resp, err := http.Get(s.URL() + "/login?next=" + url.QueryEscape("/\\evil.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page strings.Builder
	if _, err := io.Copy(&page, resp.Body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "evil.com") {
		t.Error("the login form carries next=/\\evil.com into its hidden field")
	}
}
