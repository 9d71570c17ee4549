package client

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/vise-edge/vise"
)

// Datasets lists dataset versions, of every dataset or of name.
func (c *Client) Datasets(ctx context.Context, name string) ([]vise.DatasetVersion, error) {
	var out []vise.DatasetVersion
	return out, c.getJSON(ctx, "/v1/datasets?name="+url.QueryEscape(name), &out)
}

// Dataset returns one dataset version.
func (c *Client) Dataset(ctx context.Context, name string, version int) (*vise.DatasetVersion, error) {
	var out vise.DatasetVersion
	return &out, c.getJSON(ctx, datasetPath(name, version), &out)
}

// DatasetManifest returns a version's content.
func (c *Client) DatasetManifest(ctx context.Context, name string, version int) (*vise.DatasetManifest, error) {
	var out vise.DatasetManifest
	return &out, c.getJSON(ctx, datasetPath(name, version)+"/manifest", &out)
}

// CreateDataset makes a version from a base and labelled images; created
// is false when a version with the same content exists already.
func (c *Client) CreateDataset(ctx context.Context, name string, req vise.CreateDatasetRequest) (*vise.DatasetVersion, bool, error) {
	return c.sendDataset(ctx, "/v1/datasets/"+esc(name)+"/versions", req)
}

// ImportDataset makes a version of uploaded images.
func (c *Client) ImportDataset(ctx context.Context, name string, req vise.ImportDatasetRequest) (*vise.DatasetVersion, bool, error) {
	return c.sendDataset(ctx, "/v1/datasets/"+esc(name)+"/imports", req)
}

func (c *Client) sendDataset(ctx context.Context, path string, req any) (*vise.DatasetVersion, bool, error) {
	var out vise.DatasetVersion
	var status int
	b, err := jsonBody(req)
	if err != nil {
		return nil, false, err
	}
	err = c.do(ctx, request{method: http.MethodPost, path: path, body: b, size: int64(b.Len()), ctype: "application/json", status: &status}, &out)
	return &out, status == http.StatusCreated, err
}

// DownloadArtifact writes a blob to w.
func (c *Client) DownloadArtifact(ctx context.Context, sha string, w io.Writer) error {
	return c.do(ctx, request{method: http.MethodGet, path: "/v1/artifacts/" + esc(sha)}, w)
}

func datasetPath(name string, version int) string {
	return "/v1/datasets/" + esc(name) + "/versions/" + strconv.Itoa(version)
}
