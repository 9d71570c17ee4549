package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/vise-edge/vise"
)

func esc(s string) string { return url.PathEscape(s) }

func (c *Client) RegisterModel(ctx context.Context, name string, req vise.RegisterModelRequest) (*vise.ModelVersion, error) {
	var mv vise.ModelVersion
	return &mv, c.sendJSON(ctx, http.MethodPost, "/v1/models/"+esc(name)+"/versions", req, &mv)
}

func (c *Client) Models(ctx context.Context) ([]vise.ModelGroup, error) {
	var out []vise.ModelGroup
	return out, c.getJSON(ctx, "/v1/models", &out)
}

func (c *Client) Model(ctx context.Context, name string) (*vise.ModelGroup, error) {
	var g vise.ModelGroup
	return &g, c.getJSON(ctx, "/v1/models/"+esc(name), &g)
}

func (c *Client) ModelVersions(ctx context.Context, name string) ([]vise.ModelVersion, error) {
	var out []vise.ModelVersion
	return out, c.getJSON(ctx, "/v1/models/"+esc(name)+"/versions", &out)
}

func (c *Client) ModelVersion(ctx context.Context, name string, version int) (*vise.ModelVersion, error) {
	var mv vise.ModelVersion
	return &mv, c.getJSON(ctx, "/v1/models/"+esc(name)+"/versions/"+strconv.Itoa(version), &mv)
}

// Decide approves or rejects a model version.
func (c *Client) Decide(ctx context.Context, name string, version int, status vise.ApprovalStatus, reason string) (*vise.ModelVersion, error) {
	verb := "approve"
	if status == vise.Rejected {
		verb = "reject"
	}
	var mv vise.ModelVersion
	path := "/v1/models/" + esc(name) + "/versions/" + strconv.Itoa(version) + "/" + verb
	return &mv, c.sendJSON(ctx, http.MethodPost, path, vise.DecisionRequest{Reason: reason}, &mv)
}

// CreateComponent stores a recipe whose artifacts are uploaded. created is
// false when the same version with the same content existed already.
func (c *Client) CreateComponent(ctx context.Context, r *vise.Recipe) (cv *vise.ComponentVersion, created bool, err error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, false, err
	}
	cv = new(vise.ComponentVersion)
	var status int
	err = c.do(ctx, request{method: http.MethodPost, path: "/v1/components", body: bytes.NewReader(b), size: int64(len(b)),
		ctype: "application/json", status: &status}, cv)
	return cv, status == http.StatusCreated, err
}

func (c *Client) Components(ctx context.Context) ([]vise.ComponentSummary, error) {
	var out []vise.ComponentSummary
	return out, c.getJSON(ctx, "/v1/components", &out)
}

func (c *Client) ComponentVersions(ctx context.Context, name string) ([]vise.ComponentVersion, error) {
	var out []vise.ComponentVersion
	return out, c.getJSON(ctx, "/v1/components/"+esc(name), &out)
}

func (c *Client) ComponentVersion(ctx context.Context, name, version string) (*vise.ComponentVersion, error) {
	var cv vise.ComponentVersion
	return &cv, c.getJSON(ctx, "/v1/components/"+esc(name)+"/versions/"+esc(version), &cv)
}

func (c *Client) CreateDevice(ctx context.Context, req vise.CreateDeviceRequest) (*vise.Device, error) {
	var d vise.Device
	return &d, c.sendJSON(ctx, http.MethodPost, "/v1/devices", req, &d)
}

func (c *Client) Devices(ctx context.Context) ([]vise.Device, error) {
	var out []vise.Device
	return out, c.getJSON(ctx, "/v1/devices", &out)
}

func (c *Client) Device(ctx context.Context, name string) (*vise.Device, error) {
	var d vise.Device
	return &d, c.getJSON(ctx, "/v1/devices/"+esc(name), &d)
}

func (c *Client) CreateGroup(ctx context.Context, req vise.CreateGroupRequest) (*vise.Group, error) {
	var g vise.Group
	return &g, c.sendJSON(ctx, http.MethodPost, "/v1/groups", req, &g)
}

func (c *Client) Groups(ctx context.Context) ([]vise.Group, error) {
	var out []vise.Group
	return out, c.getJSON(ctx, "/v1/groups", &out)
}

func (c *Client) AddGroupMember(ctx context.Context, group, device string) (*vise.Group, error) {
	var g vise.Group
	return &g, c.do(ctx, request{method: http.MethodPut, path: "/v1/groups/" + esc(group) + "/devices/" + esc(device)}, &g)
}

func (c *Client) CreateDeployment(ctx context.Context, req vise.CreateDeploymentRequest) (*vise.Deployment, error) {
	var d vise.Deployment
	return &d, c.sendJSON(ctx, http.MethodPost, "/v1/deployments", req, &d)
}

// Deployments lists deployments; target is "" or "device:NAME" or "group:NAME".
func (c *Client) Deployments(ctx context.Context, target string, limit int) ([]vise.Deployment, error) {
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []vise.Deployment
	return out, c.getJSON(ctx, "/v1/deployments?"+q.Encode(), &out)
}

func (c *Client) Deployment(ctx context.Context, id string) (*vise.Deployment, error) {
	var d vise.Deployment
	return &d, c.getJSON(ctx, "/v1/deployments/"+esc(id), &d)
}

func (c *Client) Events(ctx context.Context, after string, limit int) ([]vise.Event, error) {
	q := url.Values{"after": {after}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit)) // 0: the server's default
	}
	var out []vise.Event
	return out, c.getJSON(ctx, "/v1/events?"+q.Encode(), &out)
}

// EnrollmentToken is a one-time token for `vise agent --token`.
type EnrollmentToken struct {
	Token     string    `json:"token"`
	Group     string    `json:"group,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CreateEnrollmentToken asks for a token valid for ttl (0: the server's
// default); the server refuses a negative one.
func (c *Client) CreateEnrollmentToken(ctx context.Context, group string, ttl time.Duration) (*EnrollmentToken, error) {
	req := map[string]any{"group": group}
	if ttl != 0 {
		req["ttl"] = vise.Duration(ttl)
	}
	var t EnrollmentToken
	return &t, c.sendJSON(ctx, http.MethodPost, "/v1/enrollment-tokens", req, &t)
}

// RevokeDevice revokes a device's certificate; it is cut off at once (with
// an external broker: see the Revocation's CRL).
func (c *Client) RevokeDevice(ctx context.Context, name string) (*vise.Revocation, error) {
	var d vise.Revocation
	return &d, c.do(ctx, request{method: http.MethodPost, path: "/v1/devices/" + esc(name) + "/revoke"}, &d)
}

// Results lists stored inference results, newest first.
func (c *Client) Results(ctx context.Context, device string, since time.Time, limit int) ([]vise.Result, error) {
	q := url.Values{}
	if device != "" {
		q.Set("device", device)
	}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	if limit <= 0 {
		limit = vise.DefaultListLimit
	}
	// The server ends a page early at its byte budget; the next pages make
	// up the rest, so limit results come back when there are that many.
	var out []vise.Result
	for len(out) < limit {
		q.Set("limit", strconv.Itoa(limit-len(out)))
		var page []vise.Result
		var h http.Header
		if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/results?" + q.Encode(), header: &h}, &page); err != nil {
			return nil, err
		}
		out = append(out, page...)
		next := h.Get("X-Next-Before")
		if next == "" || len(page) == 0 {
			break
		}
		q.Set("before", next)
	}
	return out, nil
}

// Verdicts lists a device's verdicts newest first; resultID, if set, keeps
// those decided from that result.
func (c *Client) Verdicts(ctx context.Context, device, resultID string, limit int) ([]vise.Verdict, error) {
	q := url.Values{"device": {device}}
	if resultID != "" {
		q.Set("result", resultID)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []vise.Verdict
	return out, c.getJSON(ctx, "/v1/verdicts?"+q.Encode(), &out)
}

// Quality returns a device's model-quality windows, baselines and drift
// markers over the last `since` (0: the server's default, 6h).
func (c *Client) Quality(ctx context.Context, device string, since time.Duration) (*vise.QualitySeries, error) {
	q := url.Values{}
	if since > 0 {
		q.Set("since", since.String())
	}
	var out vise.QualitySeries
	return &out, c.getJSON(ctx, "/v1/devices/"+url.PathEscape(device)+"/quality?"+q.Encode(), &out)
}
