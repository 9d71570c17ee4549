package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/vise-edge/vise"
)

// Labels lists the labelling queue, uncertain images first.
func (c *Client) Labels(ctx context.Context, f vise.LabelFilter) ([]vise.LabelImage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"device": f.Device, "model": f.Model, "reason": string(f.Reason), "state": string(f.State)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []vise.LabelImage
	return out, c.getJSON(ctx, "/v1/labels?"+q.Encode(), &out)
}

// Label returns one image of the queue with its label and classes.
func (c *Client) Label(ctx context.Context, device, msgID string) (*vise.LabelImage, error) {
	var out vise.LabelImage
	return &out, c.getJSON(ctx, "/v1/labels/"+esc(device)+"/"+esc(msgID), &out)
}

// SaveLabel stores a label; a conflict error names who saved first.
func (c *Client) SaveLabel(ctx context.Context, device, msgID string, req vise.SaveLabelRequest) (*vise.LabelImage, error) {
	var out vise.LabelImage
	return &out, c.sendJSON(ctx, "PUT", "/v1/labels/"+esc(device)+"/"+esc(msgID), req, &out)
}
