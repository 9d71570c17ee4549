package client

import (
	"context"
	"net/http"

	"github.com/vise-edge/vise"
)

// CreateUser adds a dashboard user (admin token).
func (c *Client) CreateUser(ctx context.Context, req vise.CreateUserRequest) (*vise.User, error) {
	var u vise.User
	return &u, c.sendJSON(ctx, http.MethodPost, "/v1/users", req, &u)
}

// Users lists the dashboard users (admin token).
func (c *Client) Users(ctx context.Context) ([]vise.User, error) {
	var out []vise.User
	return out, c.getJSON(ctx, "/v1/users", &out)
}

// User returns one dashboard user (admin token).
func (c *Client) User(ctx context.Context, name string) (*vise.User, error) {
	var u vise.User
	return &u, c.getJSON(ctx, "/v1/users/"+esc(name), &u)
}

// RemoveUser deletes a dashboard user (admin token).
func (c *Client) RemoveUser(ctx context.Context, name string) error {
	return c.do(ctx, request{method: http.MethodDelete, path: "/v1/users/" + esc(name)}, nil)
}

// SetUserPassword replaces a user's password (admin token).
func (c *Client) SetUserPassword(ctx context.Context, name, password string) error {
	return c.sendJSON(ctx, http.MethodPut, "/v1/users/"+esc(name)+"/password", vise.SetPasswordRequest{Password: password}, nil)
}
