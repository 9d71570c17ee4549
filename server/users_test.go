package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

// The users API on both engines: admins only, 409 for a duplicate, 404 for
// an unknown user, strict JSON.
func TestUsersAPI(t *testing.T) {
	engines(t, func(t *testing.T, s *server.Server, c *client.Client) {
		u, err := c.CreateUser(ctx, vise.CreateUserRequest{Name: "alice", Role: "viewer", Password: "correct horse battery"})
		if err != nil || u.Name != "alice" || u.CreatedBy != "admin" {
			t.Fatalf("create: %+v, %v", u, err)
		}
		dup := rawJSON(t, s, c.Token, http.MethodPost, "/v1/users", `{"name": "alice", "role": "admin", "password": "another password"}`)
		if dup.Error.Code != vise.CodeConflict || !strings.Contains(dup.Error.Message, "user alice already exists") {
			t.Errorf("duplicate: %+v", dup.Error)
		}
		_, err = c.CreateUser(ctx, vise.CreateUserRequest{Name: "bob", Role: "viewer", Password: "short"})
		wantCode(t, err, vise.CodeInvalid, "password too short")
		bad := rawJSON(t, s, c.Token, http.MethodPost, "/v1/users", `{"name": "bob", "role": "viewer", "pasword": "typo in the field"}`)
		if bad.Error.Code != vise.CodeInvalid || !strings.Contains(bad.Error.Message, "pasword") {
			t.Errorf("unknown field: %+v", bad.Error)
		}

		if _, err := s.Store.CreateToken(ctx, "dashboard-viewer", "viewer", hashToken("vise_viewer")); err != nil {
			t.Fatal(err)
		}
		viewer := client.New(s.URL(), "vise_viewer")
		_, err = viewer.Users(ctx)
		wantCode(t, err, vise.CodeForbidden, "needs an admin token")
		_, err = viewer.CreateUser(ctx, vise.CreateUserRequest{Name: "mallory", Role: "admin", Password: "correct horse battery"})
		wantCode(t, err, vise.CodeForbidden, "needs an admin token")

		wantCode(t, c.RemoveUser(ctx, "nobody"), vise.CodeNotFound, "user nobody not found")
		wantCode(t, c.SetUserPassword(ctx, "nobody", "long enough pw"), vise.CodeNotFound, "user nobody not found")
		_, err = c.User(ctx, "nobody")
		wantCode(t, err, vise.CodeNotFound, "user nobody not found")
		if err := c.SetUserPassword(ctx, "alice", "a new password"); err != nil {
			t.Fatal(err)
		}
		us, err := c.Users(ctx)
		if err != nil || len(us) != 1 || us[0].Name != "alice" || !us[0].PasswordChangedAt.After(us[0].CreatedAt) {
			t.Errorf("list: %+v, %v", us, err)
		}
		if err := c.RemoveUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if us, _ := c.Users(ctx); len(us) != 0 {
			t.Errorf("%d users after removal", len(us))
		}
	})
}
